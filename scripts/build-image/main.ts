// `npm run build:image`: docker build of backend/Dockerfile from the repository root, tagged
// <repository>:<git commit>. A dirty tree is refused unless --allow-dirty.
import { SHARED_FLAGS, runCommand } from "../lib/cli";
import { runDeployCommand, type Step } from "../deploy/command";
import { buildStep } from "../deploy/steps";
import { DEPLOY_FLAGS } from "../deploy/targets";

export const BUILD_STEP: Step = {
  name: "build",
  fix: "npm run build:image -- --help",
  run: buildStep,
  // push and rollout take the image that was just built.
  handOff: (result, inputs) => ({ ...inputs, image: String(result.image) }),
};

if (require.main === module) {
  void runCommand((argv) =>
    runDeployCommand(
      {
        command: "build:image",
        summary:
          "Builds the backend image (docker build -f backend/Dockerfile .) tagged <repository>:<git commit>;\n" +
          "refuses a tree with uncommitted changes unless --allow-dirty.",
        flags: {
          stack: SHARED_FLAGS.stack,
          repository: SHARED_FLAGS.repository,
          "repository-url": DEPLOY_FLAGS["repository-url"],
          context: DEPLOY_FLAGS.context,
          "allow-dirty": DEPLOY_FLAGS["allow-dirty"],
        },
        examples: ["npm run build:image -- --stack prod", "npm run build:image -- --allow-dirty --json"],
        steps: [BUILD_STEP],
      },
      argv,
    ),
  );
}
