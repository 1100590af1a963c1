/**
 * The Pod Security Standards' "restricted" profile (kubernetes.io, "Pod Security Standards":
 * every baseline control, then the restricted ones), as checks of a pod spec. Each returns
 * the violations it finds, worded like the admission controller's. Used on the pod template
 * of every workload the program renders.
 */
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Capabilities baseline lets a container add; restricted allows only NET_BIND_SERVICE. */
const BASELINE_CAPABILITIES = new Set([
  "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
  "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
]); // prettier-ignore
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]); // prettier-ignore
const RESTRICTED_VOLUME_TYPES = new Set([
  "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
]); // prettier-ignore
const SELINUX_TYPES = new Set([
  "",
  "container_t",
  "container_init_t",
  "container_kvm_t",
  "container_engine_t",
]);

export function restrictedViolations(podSpec: Obj): string[] {
  const v: string[] = [];
  const pod = podSpec.securityContext ?? {};
  const containers: Obj[] = [
    ...(podSpec.initContainers ?? []),
    ...(podSpec.containers ?? []),
    ...(podSpec.ephemeralContainers ?? []),
  ];
  const each = (check: (c: Obj, sc: Obj) => string | undefined) => {
    for (const c of containers) {
      const problem = check(c, c.securityContext ?? {});
      if (problem) v.push(`container ${c.name}: ${problem}`);
    }
  };

  // Baseline.
  for (const field of ["hostNetwork", "hostPID", "hostIPC"])
    if (podSpec[field] === true) v.push(`${field}=true`);
  each((_, sc) => (sc.privileged === true ? "privileged" : undefined));
  each((_, sc) => {
    const added = (sc.capabilities?.add ?? []).filter((cap: string) => !BASELINE_CAPABILITIES.has(cap));
    return added.length > 0 ? `non-default capabilities ${added.join(",")}` : undefined;
  });
  for (const volume of podSpec.volumes ?? []) if (volume.hostPath) v.push(`hostPath volume ${volume.name}`);
  each((c) =>
    (c.ports ?? []).some((p: Obj) => p.hostPort !== undefined && p.hostPort !== 0) ? "hostPort" : undefined,
  );
  for (const sc of [pod, ...containers.map((c) => c.securityContext ?? {})]) {
    const apparmor = sc.appArmorProfile?.type;
    if (apparmor !== undefined && !["RuntimeDefault", "Localhost"].includes(apparmor))
      v.push(`appArmorProfile ${apparmor}`);
    const se = sc.seLinuxOptions;
    if (se && (!SELINUX_TYPES.has(se.type ?? "") || se.user || se.role)) v.push("seLinuxOptions");
    if (sc.seccompProfile?.type === "Unconfined") v.push("seccompProfile Unconfined");
  }
  each((_, sc) => (sc.procMount !== undefined && sc.procMount !== "Default" ? "procMount" : undefined));
  for (const sysctl of pod.sysctls ?? []) if (!SAFE_SYSCTLS.has(sysctl.name)) v.push(`sysctl ${sysctl.name}`);

  // Restricted.
  for (const volume of podSpec.volumes ?? []) {
    const types = Object.keys(volume).filter((key) => key !== "name");
    if (types.some((type) => !RESTRICTED_VOLUME_TYPES.has(type)))
      v.push(`volume ${volume.name} of type ${types}`);
  }
  each((_, sc) => (sc.allowPrivilegeEscalation !== false ? "allowPrivilegeEscalation != false" : undefined));
  each((_, sc) => {
    const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    return nonRoot !== true ? "runAsNonRoot != true" : undefined;
  });
  if (pod.runAsUser === 0) v.push("runAsUser=0");
  each((_, sc) => (sc.runAsUser === 0 ? "runAsUser=0" : undefined));
  each((_, sc) => {
    const type = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    return type !== "RuntimeDefault" && type !== "Localhost"
      ? "seccompProfile not RuntimeDefault/Localhost"
      : undefined;
  });
  each((_, sc) => {
    const caps = sc.capabilities ?? {};
    if (!(caps.drop ?? []).includes("ALL")) return "capabilities.drop must include ALL";
    const added = (caps.add ?? []).filter((cap: string) => cap !== "NET_BIND_SERVICE");
    return added.length > 0 ? `capabilities.add ${added.join(",")}` : undefined;
  });
  return v;
}
