// Thumbnail worker for the benchmark's sharp peer: `node sharp.js OUT_DIR FILE...`.
// Prints one line per file: name, CPU milliseconds, width, height, output bytes.
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');

sharp.concurrency(1);
sharp.cache(false);

async function main() {
  const [outDir, ...files] = process.argv.slice(2);
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of files) {
    const name = path.basename(file);
    const out = path.join(outDir, `${name}.jpg`);
    const start = process.cpuUsage();
    const info = await sharp(file)
      .rotate()
      .resize(256, 256, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 80 })
      .toFile(out);
    const used = process.cpuUsage(start);
    const cpuMs = (used.user + used.system) / 1000;
    console.log(`${name}\t${cpuMs.toFixed(2)}\t${info.width}\t${info.height}\t${info.size}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
