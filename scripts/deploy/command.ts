/**
 * The frame of build:image, push, rollout and update-backend: flags, --help, targets, the
 * steps in order (stopping at the first failure), the report on stdout, the exit code.
 */
import { SHARED_FLAGS, helpText, parseFlags, type FlagSpecs, type ParsedFlags } from "../lib/cli";
import { renderStepJson, renderStepText, runStep, type StepReport } from "./outcome";
import { resolveDeployTargets } from "./targets";
import type { StepInputs } from "./steps";

export interface Step {
  name: string;
  /** Fix for an unexpected error in this step. */
  fix: string;
  run(inputs: StepInputs): Promise<object>;
  /** What the next step takes from this one's result (push's digest ref for rollout). */
  handOff?: (result: Record<string, unknown>, inputs: StepInputs) => StepInputs;
}

export interface CommandSpec {
  command: string;
  summary: string;
  flags: FlagSpecs;
  examples: string[];
  notes?: string[];
  steps: Step[];
}

export async function runDeployCommand(spec: CommandSpec, argv: string[]): Promise<number> {
  const specs = { ...spec.flags, json: SHARED_FLAGS.json, help: SHARED_FLAGS.help };
  const flags: ParsedFlags = parseFlags(argv, specs, spec.command);
  if (flags.switches.has("help")) {
    process.stdout.write(
      helpText({
        command: spec.command,
        summary: spec.summary,
        specs,
        examples: spec.examples,
        notes: spec.notes,
      }) + "\n",
    );
    return 0;
  }
  const targets = await resolveDeployTargets(flags, spec.command);
  let inputs: StepInputs = {
    targets,
    ...(flags.values.image === undefined ? {} : { image: flags.values.image }),
    ...(flags.values.context === undefined ? {} : { context: flags.values.context }),
    allowDirty: flags.switches.has("allow-dirty"),
    undo: flags.switches.has("undo"),
  };
  const reports: StepReport[] = [];
  for (const step of spec.steps) {
    const report = await runStep(step.name, async () => ({ ...(await step.run(inputs)) }), step.fix);
    reports.push(report);
    if (!report.ok) break;
    if (step.handOff) inputs = step.handOff(report.result, inputs);
  }
  const json = flags.switches.has("json");
  process.stdout.write(json ? renderStepJson(reports) : renderStepText(reports));
  return reports.every((r) => r.ok) ? 0 : 1;
}
