/**
 * A stack synthesizer for a template deployed without CDK: no bootstrap (no `BootstrapVersion`
 * parameter or rule, no `cdk-hnb659fds` buckets or roles); every file asset is an object
 * `{AssetsPrefix}{hash}.zip` (or its file extension) in the bucket named by the `AssetsBucket` parameter,
 * uploaded by the administrator from `dist/cloudformation/assets/`.
 */
import * as path from 'node:path';
import {
  Aws,
  CfnParameter,
  DockerImageAssetLocation,
  FileAssetLocation,
  FileAssetPackaging,
  FileAssetSource,
  ISynthesisSession,
  StackSynthesizer,
} from 'aws-cdk-lib';

/** One file asset of the template: where CDK staged it and the object key it is uploaded as. */
export interface StandaloneAsset {
  /** Staged path, relative to the cloud assembly directory (or absolute). */
  readonly stagedPath: string;
  /** Whether the staged path is a directory to be zipped. */
  readonly zipDirectory: boolean;
  /** The object name under `AssetsPrefix`. */
  readonly objectName: string;
}

/** Parameter names of the asset location. */
export const ASSET_PARAMETERS = { bucket: 'AssetsBucket', prefix: 'AssetsPrefix' } as const;

/** Maps file assets to the `AssetsBucket` / `AssetsPrefix` parameters and records them for packaging. */
export class StandaloneSynthesizer extends StackSynthesizer {
  /** The file assets, in the order the stack added them. */
  public readonly assets: StandaloneAsset[] = [];
  private parameters?: { bucket: CfnParameter; prefix: CfnParameter };

  public addFileAsset(asset: FileAssetSource): FileAssetLocation {
    if (asset.fileName === undefined || asset.executable !== undefined)
      throw new Error('The standalone template takes file assets only (no asset built by a command)');
    const zipDirectory = asset.packaging === FileAssetPackaging.ZIP_DIRECTORY;
    const objectName = `${asset.sourceHash}${zipDirectory ? '.zip' : path.extname(asset.fileName)}`;
    if (!this.assets.some((a) => a.objectName === objectName))
      this.assets.push({ stagedPath: asset.fileName, zipDirectory, objectName });
    const { bucket, prefix } = this.assetParameters();
    const key = `${prefix.valueAsString}${objectName}`;
    return {
      bucketName: bucket.valueAsString,
      objectKey: key,
      httpUrl: `https://${bucket.valueAsString}.s3.${Aws.REGION}.${Aws.URL_SUFFIX}/${key}`,
      s3ObjectUrl: `s3://${bucket.valueAsString}/${key}`,
    };
  }

  public addDockerImageAsset(): DockerImageAssetLocation {
    throw new Error('The standalone template takes no container image assets');
  }

  public synthesize(session: ISynthesisSession): void {
    this.synthesizeTemplate(session);
    this.emitArtifact(session);
  }

  private assetParameters(): { bucket: CfnParameter; prefix: CfnParameter } {
    this.parameters ??= {
      bucket: new CfnParameter(this.boundStack, ASSET_PARAMETERS.bucket, {
        type: 'String',
        description:
          'S3 bucket (in this region) holding the files of assets/ of this template: the Lambda bundles and the image documents',
        allowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
        constraintDescription: 'an S3 bucket name',
      }),
      prefix: new CfnParameter(this.boundStack, ASSET_PARAMETERS.prefix, {
        type: 'String',
        description: 'Key prefix of those files in the bucket, ending with / (or empty for the bucket root)',
        default: 'cdk-ephemeral-runners/',
        allowedPattern: '^([A-Za-z0-9!_.*()-]+/)*$',
        constraintDescription: 'empty, or key segments each ending with /',
      }),
    };
    return this.parameters;
  }
}
