// `npm run rollout`: records the image (by tag and digest) in the stack's config and runs
// `pulumi up`, waits with kubectl rollout status, and on failure shows the failing pods'
// events and last log lines and restores the config (another `pulumi up`). `--undo` goes back
// to the image before the last rollout the same way.
import { SHARED_FLAGS, runCommand } from "../lib/cli";
import { runDeployCommand, type Step } from "../deploy/command";
import { rolloutStep } from "../deploy/steps";
import { DEPLOY_FLAGS } from "../deploy/targets";

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
          "Rolls the backend to an image: records it in the stack's config (co-intelligence:image, by tag and digest;\n" +
          "the one it replaces in co-intelligence:previousImage), runs pulumi up, waits for the rollout, and on failure\n" +
          "prints the failing pods' events and logs and restores the config (pulumi up again). Without --image: this\n" +
          "commit's image. --undo goes back to the previous image. Needs --stack, the Pulumi CLI and kubectl.",
        flags: {
          stack: SHARED_FLAGS.stack,
          region: SHARED_FLAGS.region,
          namespace: SHARED_FLAGS.namespace,
          deployment: SHARED_FLAGS.deployment,
          image: DEPLOY_FLAGS.image,
          undo: DEPLOY_FLAGS.undo,
          timeout: DEPLOY_FLAGS.timeout,
          repository: SHARED_FLAGS.repository,
          "repository-url": DEPLOY_FLAGS["repository-url"],
          context: DEPLOY_FLAGS.context,
        },
        examples: [
          "npm run rollout -- --stack prod --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:<tag>",
          "npm run rollout -- --stack prod --undo",
        ],
        steps: [ROLLOUT_STEP],
      },
      argv,
    ),
  );
}
