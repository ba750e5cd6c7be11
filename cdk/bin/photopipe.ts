/** The CDK app: one photopipe stack, checked by cdk-nag's AWS Solutions rules. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PhotopipeStack } from '../lib/photopipe-stack';
import { parseSettings } from '../lib/settings';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
new PhotopipeStack(app, 'Photopipe', {
  settings: parseSettings(app.node.tryGetContext('photopipe')),
  description: 'photopipe: photo ingest with thumbnails and a verified Wasabi archive',
});
