// `npm run update-backend`: build:image, push and rollout in one, in-process, stopping at the
// first failure; the rollout deploys exactly the digest the push produced. The repository is
// looked up first, so a missing one fails before the build.
import { SHARED_FLAGS, runCommand } from "../lib/cli";
import { BUILD_STEP } from "../build-image/main";
import { PUSH_STEP } from "../push/main";
import { ROLLOUT_STEP } from "../rollout/main";
import { runDeployCommand, type Step } from "../deploy/command";
import { repositoryStep } from "../deploy/steps";
import { DEPLOY_FLAGS } from "../deploy/targets";

const REPOSITORY_STEP: Step = {
  name: "repository",
  fix: "npm run doctor  (checks credentials, region and the repository)",
  run: repositoryStep,
  handOff: (result, inputs) => ({
    ...inputs,
    targets: { ...inputs.targets, repositoryUrl: String(result.repositoryUrl) },
  }),
};

if (require.main === module) {
  void runCommand((argv) =>
    runDeployCommand(
      {
        command: "update-backend",
        summary:
          "Builds the backend image from this commit, pushes it to ECR and rolls the deployment to its digest\n" +
          "(undoing the rollout if it fails). Stops at the first failing step.",
        flags: {
          stack: SHARED_FLAGS.stack,
          region: SHARED_FLAGS.region,
          repository: SHARED_FLAGS.repository,
          "repository-url": DEPLOY_FLAGS["repository-url"],
          namespace: SHARED_FLAGS.namespace,
          deployment: SHARED_FLAGS.deployment,
          timeout: DEPLOY_FLAGS.timeout,
          context: DEPLOY_FLAGS.context,
          "allow-dirty": DEPLOY_FLAGS["allow-dirty"],
        },
        examples: [
          "npm run update-backend -- --stack prod",
          "npm run update-backend -- --stack dev --timeout 10m --json",
        ],
        steps: [REPOSITORY_STEP, BUILD_STEP, PUSH_STEP, ROLLOUT_STEP],
      },
      argv,
    ),
  );
}
