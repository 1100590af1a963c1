/**
 * ecr-repository and ecr-image: the backend's image repository keeps tags immutable and
 * scans on push, and the image the deployment runs is there with no critical findings.
 */
import { DescribeImageScanFindingsCommand, ImageIdentifier } from "@aws-sdk/client-ecr";
import { awsErrorName, isAccessDenied } from "../adapters/aws";
import { describeImage, describeRepository } from "../adapters/ecr";
import { backendContainer } from "../adapters/kubectl";
import { errorLine } from "../lib/cli";
import { Check, fail, pass, skip } from "../lib/report";
import { DoctorContext, deploymentOf } from "./context";
import { command } from "../lib/shell";

export const ecrRepository: Check<DoctorContext> = {
  id: "ecr-repository",
  title: "Image repository exists, immutable tags, scan on push",
  needs: ["aws-identity"],
  async run(ctx) {
    const name = ctx.targets.repositoryName;
    const region = ctx.targets.region;
    let lookup;
    try {
      lookup = await describeRepository(ctx.aws.ecr, name);
    } catch (err) {
      if (isAccessDenied(err)) return skip(`no permission to read repository ${name}: ${errorLine(err)}`);
      throw err;
    }
    if (!lookup.found)
      return fail(
        `no repository ${name} in ${region}: ${lookup.reason}`,
        `${ctx.fix.pulumiUp}   (or pass the repository the backend uses: --repository NAME)`,
      );
    const repo = lookup.value;
    ctx.found.repository = repo;
    const problems: string[] = [];
    const fixes: string[] = [];
    if (!repo.imageTagMutability?.startsWith("IMMUTABLE")) {
      problems.push(`tags must be IMMUTABLE, found ${repo.imageTagMutability}`);
      fixes.push(
        command(
          "aws",
          "ecr",
          "put-image-tag-mutability",
          "--repository-name",
          name,
          "--region",
          region,
          "--image-tag-mutability",
          "IMMUTABLE",
        ),
      );
    }
    if (repo.imageScanningConfiguration?.scanOnPush !== true) {
      problems.push("scan on push must be on, found off");
      fixes.push(
        command(
          "aws",
          "ecr",
          "put-image-scanning-configuration",
          "--repository-name",
          name,
          "--region",
          region,
          "--image-scanning-configuration",
          "scanOnPush=true",
        ),
      );
    }
    if (problems.length === 0) return pass(`${repo.repositoryUri} (IMMUTABLE, scan on push)`);
    return fail(
      `${repo.repositoryUri}: ${problems.join("; ")}`,
      `${ctx.fix.pulumiUp}   (or now: ${fixes.join(" && ")})`,
    );
  },
};

/** `<uri>@sha256:...` or `<uri>:tag` -> the image id within `<uri>`, else undefined. */
export function imageInRepository(image: string, repositoryUri: string): ImageIdentifier | undefined {
  if (image.startsWith(`${repositoryUri}@`)) return { imageDigest: image.slice(repositoryUri.length + 1) };
  if (image.startsWith(`${repositoryUri}:`)) {
    // `<uri>:<tag>@sha256:...` (what rollout records): the digest is what runs.
    const rest = image.slice(repositoryUri.length + 1);
    const at = rest.indexOf("@");
    return at === -1 ? { imageTag: rest } : { imageDigest: rest.slice(at + 1) };
  }
  if (image === repositoryUri) return { imageTag: "latest" };
  return undefined;
}

export const ecrImage: Check<DoctorContext> = {
  id: "ecr-image",
  title: "Deployed image is in the repository with no critical findings",
  needs: ["ecr-repository"],
  async run(ctx) {
    const lookup = await deploymentOf(ctx);
    if (lookup.status !== "ok") return skip(`cannot tell which image runs: ${lookup.detail}`);
    const image = backendContainer(lookup.value)?.image ?? "";
    const repo = ctx.found.repository!;
    const uri = repo.repositoryUri!;
    const id = imageInRepository(image, uri);
    if (!id)
      return skip(
        `the deployment runs ${image || "no image"}, not an image of ${uri} (see deployment-image)`,
      );
    const name = ctx.targets.repositoryName;
    const region = ctx.targets.region;
    const found = await describeImage(ctx.aws.ecr, name, id);
    if (!found.found)
      return fail(
        `${image} is not in ${name}: ${found.reason}`,
        `build, push and roll out an image that is: ${ctx.fix.updateBackend}`,
      );
    const digest = found.value.imageDigest;
    const scanId = digest ? { imageDigest: digest } : id;
    const idArg = digest ? `imageDigest=${digest}` : `imageTag=${id.imageTag}`;
    let counts: Record<string, number>;
    try {
      const scan = await ctx.aws.ecr.send(
        new DescribeImageScanFindingsCommand({ repositoryName: name, imageId: scanId }),
      );
      counts = scan.imageScanFindings?.findingSeverityCounts ?? {};
    } catch (err) {
      if (awsErrorName(err) === "ScanNotFoundException") {
        return skip(
          `${image} is in the repository but has no scan results yet (start one: ${command("aws", "ecr", "start-image-scan", "--repository-name", name, "--region", region, "--image-id", idArg)})`,
        );
      }
      throw err;
    }
    const summary = Object.entries(counts)
      .map(([severity, n]) => `${severity} ${n}`)
      .join(", ");
    const critical = counts.CRITICAL ?? 0;
    if (critical === 0) return pass(`${image}: no critical findings${summary ? ` (${summary})` : ""}`);
    return fail(
      `${image}: ${critical} critical finding(s) (${summary})`,
      `see them: ${command("aws", "ecr", "describe-image-scan-findings", "--repository-name", name, "--region", region, "--image-id", idArg)}; ` +
        `rebuild on a patched base image and roll it out: ${ctx.fix.updateBackend}`,
    );
  },
};
