# The host build of libheif (tests, local stack) gets the same codecs as the ARM64 Lambda
# build: libde265 only. Without this, cmake would pick up whatever -dev packages the machine
# has; a system libjpeg.a in particular would be linked next to mozjpeg's own libjpeg.
foreach(package AOM Brotli DAV1D Doxygen FFMPEG JPEG OPENJPH OpenH264 OpenJPEG RAV1E SvtEnc
                UVG266 X264 X265 ZLIB kvazaar libsharpyuv vvdec vvenc)
  set(CMAKE_DISABLE_FIND_PACKAGE_${package} ON CACHE BOOL "")
endforeach()
