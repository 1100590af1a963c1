// Loads index.ts the way the Pulumi CLI's Node.js language host does (cmd/run/run.js of
// @pulumi/pulumi: its vendored ts-node 7, the project's own TypeScript and tsconfig.json,
// type-checking on), under unit-test mocks, and prints what the program registered.
// Run by pulumi-loader.test.ts in a child process: ts-node's hook is process-wide.
const path = require("node:path");

const root = process.argv[2];
const pulumi = require(path.join(root, "node_modules/@pulumi/pulumi"));
const tsutils = require(path.join(root, "node_modules/@pulumi/pulumi/tsutils"));

const tsconfig = path.join(root, "tsconfig.json");
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
require(tsnodeRequire).register({
  compiler: typescriptRequire,
  transpileOnly: undefined,
  project: tsconfig,
  skipProject: false,
  compilerOptions: {
    target: "ES2020",
    module: "nodenext",
    moduleResolution: "nodenext",
    sourceMap: "true",
    ...tsutils.loadTypeScriptCompilerOptions(tsconfig),
  },
});

const registered = [];
pulumi.runtime.setMocks(
  {
    newResource(args) {
      registered.push(args.type);
      const state = { ...args.inputs, arn: `arn:aws:mock:us-east-1:123456789012:${args.name}` };
      state.repositoryUrl = `123456789012.dkr.ecr.us-east-1.amazonaws.com/${args.name}`;
      state.defaultNetworkAclId = "acl-1";
      state.defaultRouteTableId = "rtb-1";
      return { id: `${args.name}-id`, state };
    },
    call(args) {
      if (args.token.includes("getAvailabilityZones")) return { names: ["us-east-1a", "us-east-1b"] };
      if (args.token.includes("getCluster")) {
        return {
          endpoint: "https://example.eks.amazonaws.com",
          certificateAuthorities: [{ data: "Q0E=" }],
          identities: [{ oidcs: [{ issuer: "https://oidc.example/id/1" }] }],
        };
      }
      return { accountId: "123456789012" };
    },
  },
  "co-intelligence",
  "dev",
  false,
);
pulumi.runtime.setAllConfig(
  JSON.parse(process.env.PROGRAM_CONFIG),
  JSON.parse(process.env.PROGRAM_SECRET_KEYS),
);
process.chdir(root);
require(path.join(root, "index.ts"));
require(path.join(root, "node_modules/@pulumi/pulumi/runtime/settings"))
  .waitForRPCs()
  .then(() => console.log(JSON.stringify({ registered })));
