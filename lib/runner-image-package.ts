import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Token } from 'aws-cdk-lib';
import { RunnerArchitecture } from '../lambda/core/runner-config';

/** SHA-256 (hex) of the runner tarball of each architecture. */
export interface RunnerChecksums {
  /** SHA-256 of `actions-runner-linux-x64-<version>.tar.gz`. */
  readonly x64: string;
  /** SHA-256 of `actions-runner-linux-arm64-<version>.tar.gz`. */
  readonly arm64: string;
}

/** A runner version and the SHA-256 of its tarballs, as published in the actions/runner release notes. */
export interface RunnerRelease {
  /** Runner version, for example `2.333.0`. */
  readonly version: string;
  /** SHA-256 of the tarball of each architecture (the release notes' "SHA-256 Checksums" section). */
  readonly sha256: RunnerChecksums;
}

/** Where each architecture's tarball is, for {@link RunnerPackage.fromUrl}. */
export interface RunnerUrls {
  /** HTTPS URL of the x64 tarball. */
  readonly x64: string;
  /** HTTPS URL of the arm64 tarball. */
  readonly arm64: string;
}

/** Options of {@link RunnerPackage.fromS3}. */
export interface RunnerS3Location extends RunnerRelease {
  /** Bucket holding the tarballs (same region as the stack). */
  readonly bucket: s3.IBucket;
  /** Object key of each architecture's tarball. */
  readonly keys: { readonly x64: string; readonly arm64: string };
}

/**
 * The runner version the library pins. Checksums from the actions/runner v2.333.0 release notes
 * (as echoed by GitHub's "New self-hosted runner" page); see image-builder/README.md to bump it.
 */
export const DEFAULT_RUNNER_RELEASE: RunnerRelease = {
  version: '2.333.0',
  sha256: {
    x64: '7ce6b3fd8f879797fcc252c2918a23e14a233413dc6e6ab8e0ba8768b5d54475',
    arm64: 'b5697062a13f63b44f869de9369638a7039677b9e0f87e47a6001a758c0d09bf',
  },
};

/** Oldest runner github.com lets register. */
const MIN_GITHUB_VERSION = [2, 329, 0];

function checkRelease(release: RunnerRelease, requireGithubMinimum: boolean): RunnerRelease {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(release.version);
  if (!m) throw new Error(`runner version "${release.version}" is not of the form 2.333.0`);
  const parts = m.slice(1).map(Number);
  const older = parts.findIndex((p, i) => p !== MIN_GITHUB_VERSION[i]);
  if (requireGithubMinimum && older >= 0 && parts[older] < MIN_GITHUB_VERSION[older]) {
    throw new Error(
      `runner version ${release.version} is older than 2.329.0, the oldest github.com accepts: pin a newer one`,
    );
  }
  const sha256 = { x64: release.sha256.x64.toLowerCase(), arm64: release.sha256.arm64.toLowerCase() };
  for (const arch of ['x64', 'arm64'] as const) {
    if (!/^[0-9a-f]{64}$/.test(sha256[arch])) {
      throw new Error(
        `sha256.${arch} of runner ${release.version} must be 64 hex digits: copy it from the ` +
          `"SHA-256 Checksums" section of https://github.com/actions/runner/releases/tag/v${release.version}`,
      );
    }
  }
  return { version: release.version, sha256 };
}

/**
 * The GitHub Actions runner to install, and where its tarballs come from. Every tarball is verified
 * against its SHA-256 before it is unpacked, in the image build and at boot alike.
 */
export abstract class RunnerPackage {
  /**
   * From GitHub's releases (the default).
   * @param release a version and its checksums; defaults to {@link DEFAULT_RUNNER_RELEASE}
   */
  public static github(release: RunnerRelease = DEFAULT_RUNNER_RELEASE): RunnerPackage {
    const r = checkRelease(release, true);
    const url = (arch: RunnerArchitecture) =>
      `https://github.com/actions/runner/releases/download/v${r.version}/actions-runner-linux-${arch}-${r.version}.tar.gz`;
    return new WebRunnerPackage(r, { x64: url('x64'), arm64: url('arm64') });
  }

  /** From any HTTPS URL: a GHES instance's mirror, an artifact repository. */
  public static fromUrl(release: RunnerRelease & { readonly urls: RunnerUrls }): RunnerPackage {
    for (const arch of ['x64', 'arm64'] as const) {
      const u = release.urls[arch];
      if (!Token.isUnresolved(u) && !/^https:\/\/[^\s'"]+$/.test(u)) {
        throw new Error(`urls.${arch} must be an https:// URL without spaces or quotes, got "${u}"`);
      }
    }
    return new WebRunnerPackage(checkRelease(release, false), release.urls);
  }

  /** From an S3 bucket, for air-gapped installations (GHES without internet access). */
  public static fromS3(location: RunnerS3Location): RunnerPackage {
    for (const arch of ['x64', 'arm64'] as const) {
      // The boot script signs S3 requests itself and does not URI-encode keys.
      if (!/^[A-Za-z0-9._/-]+$/.test(location.keys[arch])) {
        throw new Error(
          `keys.${arch} may hold only letters, digits and . _ / -, got "${location.keys[arch]}"`,
        );
      }
    }
    return new S3RunnerPackage(checkRelease(location, false), location);
  }

  /** The runner version. */
  public readonly version: string;
  /** SHA-256 of each architecture's tarball. */
  public readonly sha256: RunnerChecksums;

  protected constructor(release: RunnerRelease) {
    this.version = release.version;
    this.sha256 = release.sha256;
  }

  /** Where the tarball of an architecture is: an `https://` or an `s3://bucket/key` URL. */
  public abstract location(arch: RunnerArchitecture): string;

  /** Lets `grantee` (an image build or runner instance role) download the tarballs; no-op for HTTPS. */
  public abstract grantRead(grantee: iam.IGrantable): void;
}

class WebRunnerPackage extends RunnerPackage {
  constructor(
    release: RunnerRelease,
    private readonly urls: RunnerUrls,
  ) {
    super(release);
  }

  public location(arch: RunnerArchitecture): string {
    return this.urls[arch];
  }

  public grantRead(_grantee: iam.IGrantable): void {}
}

class S3RunnerPackage extends RunnerPackage {
  constructor(
    release: RunnerRelease,
    private readonly s3Location: RunnerS3Location,
  ) {
    super(release);
  }

  public location(arch: RunnerArchitecture): string {
    return `s3://${this.s3Location.bucket.bucketName}/${this.s3Location.keys[arch]}`;
  }

  public grantRead(grantee: iam.IGrantable): void {
    for (const arch of ['x64', 'arm64'] as const)
      this.s3Location.bucket.grantRead(grantee, this.s3Location.keys[arch]);
  }
}
