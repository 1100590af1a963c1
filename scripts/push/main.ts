// `npm run push`: ECR login through the AWS SDK piped to `docker login --password-stdin`,
// then `docker push`, printing the digest that rollout deploys.
import { SHARED_FLAGS, runCommand } from "../lib/cli";
import { runDeployCommand, type Step } from "../deploy/command";
import { pushStep } from "../deploy/steps";
import { DEPLOY_FLAGS } from "../deploy/targets";

export const PUSH_STEP: Step = {
  name: "push",
  fix: "npm run push -- --help",
  run: pushStep,
  // rollout deploys exactly what was pushed: its tag (which the lifecycle policy protects) and digest.
  handOff: (result, inputs) => ({ ...inputs, image: `${String(result.image)}@${String(result.digest)}` }),
};

if (require.main === module) {
  void runCommand((argv) =>
    runDeployCommand(
      {
        command: "push",
        summary:
          "Logs docker in to the ECR registry (token from the AWS SDK, password on stdin) and pushes the image;\n" +
          "prints the digest. Without --image it pushes <repository>:<git commit>, what build:image built.",
        flags: {
          stack: SHARED_FLAGS.stack,
          region: SHARED_FLAGS.region,
          repository: SHARED_FLAGS.repository,
          "repository-url": DEPLOY_FLAGS["repository-url"],
          image: DEPLOY_FLAGS.image,
          context: DEPLOY_FLAGS.context,
        },
        examples: [
          "npm run push -- --stack prod",
          "npm run push -- --repository co-intelligence-backend --image co-intelligence-backend:1a2b3c4d5e6f",
        ],
        steps: [PUSH_STEP],
      },
      argv,
    ),
  );
}
