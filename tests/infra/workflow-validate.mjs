// Validates GitHub Actions workflow files as GitHub reads them, offline, with two maintained
// validators: GitHub's own workflow parser (@actions/workflow-parser, the schema and
// expression checks of GitHub's language services) and action-validator (the SchemaStore
// workflow schema). ES modules only (the parser needs a JSON-aware loader: run with
// `node --import tsx`); a JSON array of {name, content} on stdin, findings on stdout.
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from "@actions/workflow-parser";
import { validateWorkflow } from "@action-validator/core";

const files = JSON.parse(
  await new Promise((resolve) => {
    let text = "";
    process.stdin
      .setEncoding("utf8")
      .on("data", (c) => (text += c))
      .on("end", () => resolve(text));
  }),
);
const results = [];
for (const { name, content } of files) {
  const parsed = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  const github = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value !== undefined) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    for (const e of template.errors ?? []) {
      const message = e.Message ?? e.message ?? String(e);
      if (!github.includes(message)) github.push(message);
    }
  }
  const schemaStore = validateWorkflow(content).errors.map(
    (e) => `${e.title}${e.path ? ` at ${e.path}` : ""}${e.detail ? `: ${e.detail}` : ""}`,
  );
  results.push({ name, github, schemaStore });
}
process.stdout.write(JSON.stringify(results));
