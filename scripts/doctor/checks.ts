/**
 * doctor's checks, in the contract's order (CONTRACT.md section 3). Each check names the
 * earlier ones it needs; the runner skips it when one of them did not pass.
 */
import { Check } from "../lib/report";
import { DoctorContext } from "./context";
import { ecrImage, ecrRepository } from "./ecr";
import { awsIdentity, functionConfig, functionExists, functionState } from "./function";
import { functionInvoke, functionSandbox } from "./invoke";
import { backendReady, deploymentImage, deploymentReady } from "./kubernetes";
import { functionLogs } from "./logs";
import { functionNetwork } from "./network";
import { invokePermission } from "./permission";

export const CHECKS: readonly Check<DoctorContext>[] = [
  awsIdentity,
  functionExists,
  functionState,
  functionConfig,
  functionNetwork,
  functionInvoke,
  functionSandbox,
  functionLogs,
  invokePermission,
  ecrRepository,
  ecrImage,
  deploymentReady,
  deploymentImage,
  backendReady,
];
