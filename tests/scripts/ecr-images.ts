/** Images in moto's ECR for the deploy command tests: pushed by manifest, found by digest. */
import { CreateRepositoryCommand, ECRClient, PutImageCommand } from "@aws-sdk/client-ecr";

export const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
export const REPOSITORY_URL = `${REGISTRY}/co-intelligence-backend`;

export function ecrClientFor(endpoint: string): ECRClient {
  return new ECRClient({
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
}

export async function createRepository(ecr: ECRClient): Promise<void> {
  await ecr.send(new CreateRepositoryCommand({ repositoryName: "co-intelligence-backend" }));
}

/** Puts an image (a distinct manifest per `seed`) with these tags; answers its digest `sha256:<hex>`. */
export async function putImage(ecr: ECRClient, seed: string, tags: string[]): Promise<string> {
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      size: 7023,
      digest: `sha256:${Buffer.from(seed).toString("hex").padEnd(64, "0").slice(0, 64)}`,
    },
    layers: [],
  });
  let digest = "";
  for (const tag of tags.length > 0 ? tags : [undefined]) {
    const out = await ecr.send(
      new PutImageCommand({
        repositoryName: "co-intelligence-backend",
        imageManifest: manifest,
        ...(tag === undefined ? {} : { imageTag: tag }),
      }),
    );
    digest = out.image?.imageId?.imageDigest ?? digest;
  }
  return digest;
}
