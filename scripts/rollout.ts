// `npm run rollout`: kubectl set image (by digest), kubectl rollout status with a timeout,
// and on failure kubectl rollout undo plus the failing pods' events and last log lines.
import { SHARED_FLAGS, runCommand } from "./lib/cli";
import { runDeployCommand, type Step } from "./deploy/command";
import { rolloutStep } from "./deploy/steps";
import { DEPLOY_FLAGS } from "./deploy/targets";

export const ROLLOUT_STEP: Step = {
  name: "rollout",
  fix: "npm run rollout -- --help",
  run: rolloutStep,
};

if (require.main === module) {
  void runCommand((argv) =>
    runDeployCommand(
      {
        command: "rollout",
        summary:
          "Points the backend deployment at an image by digest, waits for the rollout, and on failure undoes it\n" +
          "and prints the failing pods' events and logs. --image REPO@sha256:... as push prints it; a tag (or\n" +
          "no --image: this commit's tag) is resolved to its digest in ECR.",
        flags: {
          stack: SHARED_FLAGS.stack,
          region: SHARED_FLAGS.region,
          namespace: SHARED_FLAGS.namespace,
          deployment: SHARED_FLAGS.deployment,
          container: DEPLOY_FLAGS.container,
          image: DEPLOY_FLAGS.image,
          timeout: DEPLOY_FLAGS.timeout,
          repository: SHARED_FLAGS.repository,
          "repository-url": DEPLOY_FLAGS["repository-url"],
          context: DEPLOY_FLAGS.context,
        },
        examples: [
          "npm run rollout -- --stack prod --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend@sha256:<digest>",
          "npm run rollout -- --namespace co-intelligence --deployment backend --timeout 10m",
        ],
        steps: [ROLLOUT_STEP],
      },
      argv,
    ),
  );
}
