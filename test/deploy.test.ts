// The deployment files in deploy/ and the Dockerfiles, checked without a cluster, a Docker daemon or a cloud:
// - every YAML file parses; each Kubernetes object passes its OpenAPI schema (kubernetes-models), each Cloud Run
//   service the Knative schema (@kubernetes-models/knative), and compose.yaml the Compose Specification's schema;
// - the promises the docs make hold: the restricted Pod Security Standard, gRPC probes, secrets by reference, grace
//   periods longer than the services' own, the capacity the router is told about, and settings that exist;
// - deploy/cloudrun/deploy.sh runs against stand-ins for gcloud and docker, and never shows a secret;
// - Dockerfiles pass dockerlinter and shell scripts pass shellcheck.
// Every validator is also shown something broken, so one that accepted anything would fail here.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { Service as KnativeService } from "@kubernetes-models/knative/serving.knative.dev/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { readRoutineFile } from "../cli/lib/routines/definition.js";
import { parseStaticWorker } from "../services/router/registry.js";
import { ROUTER_SETTINGS, readRouterSettings } from "../services/router/settings.js";
import { duration } from "../services/common/settings.js";
import { WORKER_SETTINGS, readWorkerSettings } from "../services/worker/settings.js";
import { itNeeding } from "./helpers/needs.js";

/** Parsed YAML: plain objects whose shape the assertions check. */
type Doc = any;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEPLOY = join(ROOT, "deploy");
const require = createRequire(import.meta.url);
const scratch = mkdtempSync(join(tmpdir(), "cc-deploy-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function filesUnder(dir: string, test: (name: string) => boolean): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Every document of a YAML file, as plain objects; throws, naming the file, on a syntax error. */
function loadYaml(path: string): Doc[] {
  return parseAllDocuments(readFileSync(path, "utf8"), { merge: true }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${relative(ROOT, path)}: ${doc.errors.map((e) => e.message).join("; ")}`);
    return doc.toJS();
  });
}

const YAML_FILES = filesUnder(DEPLOY, (name) => /\.ya?ml$/.test(name));
const COMPOSE = join(DEPLOY, "compose.yaml");
const K8S = join(DEPLOY, "k8s");

/** The Kubernetes and Knative kinds deploy/ may hold, each with its schema. */
const MODELS: Record<string, { new (data: Doc): { validate(): void } }> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/Secret": Secret,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "serving.knative.dev/v1/Service": KnativeService,
};

function validateObject(obj: Doc): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`${obj.apiVersion} ${obj.kind} has no schema in MODELS; add one`);
  new Model(obj).validate();
}

interface Manifest {
  file: string;
  obj: Doc;
}

/** The routine definitions in deploy/routines/ (`cc routine apply -f`), checked as cc reads them. */
const ROUTINES = YAML_FILES.filter((f) => f.startsWith(join(DEPLOY, "routines") + "/"));

/** Every Kubernetes-style object in deploy/ (compose.yaml, kustomization.yaml and routines are not objects). */
const OBJECTS: Manifest[] = YAML_FILES.filter((f) => f !== COMPOSE && basename(f) !== "kustomization.yaml" && !ROUTINES.includes(f)).flatMap((file) =>
  loadYaml(file)
    .filter((obj) => obj != null)
    .map((obj) => ({ file: relative(ROOT, file), obj })),
);
const k8s = (kind: string) => OBJECTS.filter((m) => m.file.startsWith("deploy/k8s/") && m.obj.kind === kind).map((m) => m.obj);
const one = (kind: string, name: string): Doc => {
  const found = k8s(kind).find((o) => o.metadata.name === name);
  if (!found) throw new Error(`deploy/k8s has no ${kind} ${name}`);
  return found;
};
const cloudRun = (name: string): Doc => {
  const found = OBJECTS.find((m) => m.file.startsWith("deploy/cloudrun/") && m.obj.metadata.name === name);
  if (!found) throw new Error(`deploy/cloudrun has no service ${name}`);
  return found.obj;
};

// Environment variables, as the services would see them.

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Doc;
}

const envOf = (container: Doc): EnvVar[] => container.env ?? [];
const envValue = (container: Doc, name: string): string | undefined => envOf(container).find((e) => e.name === name)?.value;

/**
 * Variables a container may carry that are not the service's settings: the Kubernetes downward-API helpers, and
 * for workers claude's own (which the worker passes to claude). The router runs no claude and needs no credential.
 */
const SETTINGS = {
  worker: { names: new Set(Object.values(WORKER_SETTINGS).map((s) => s.env)), read: readWorkerSettings, extra: /^(ANTHROPIC_|CLAUDE_CODE_)|^POD_(IP|NAME)$/ },
  // The router's REDIS_PASSWORD only goes into CC_STORE's URL ($(REDIS_PASSWORD)).
  router: { names: new Set(Object.values(ROUTER_SETTINGS).map((s) => s.env)), read: readRouterSettings, extra: /^POD_(IP|NAME)$|^REDIS_PASSWORD$/ },
};

/** Names that are not settings of `service`, and the error its settings table gives for the literal values. */
function settingsProblems(service: "worker" | "router", env: Record<string, string | null | undefined>): string[] {
  const { names, read, extra } = SETTINGS[service];
  const problems = Object.keys(env)
    .filter((name) => !extra.test(name) && !names.has(name))
    .map((name) => `${name} is not a ${service} setting`);
  const literal = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === "string")) as Record<string, string>;
  try {
    read(literal);
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems;
}

const ms = (text: string | undefined, fallback: string): number => duration(text ?? fallback);

describe("deploy/: every file", () => {
  it("parses, and every object passes the schema of its kind", () => {
    expect(YAML_FILES.map((f) => relative(ROOT, f))).toEqual(
      expect.arrayContaining(["deploy/compose.yaml", "deploy/cloudrun/worker.yaml", "deploy/cloudrun/router.yaml", "deploy/k8s/kustomization.yaml"]),
    );
    for (const file of YAML_FILES) loadYaml(file);
    expect(OBJECTS.length).toBeGreaterThan(8);
    for (const { file, obj } of OBJECTS) {
      expect(() => validateObject(obj), `${file}: ${obj.kind} ${obj.metadata?.name}`).not.toThrow();
    }
  });

  it("deploy/routines/ holds routines cc routine apply accepts", () => {
    expect(ROUTINES.length).toBeGreaterThan(1);
    const names = ROUTINES.flatMap((file) => readRoutineFile(file, { NIGHTLY_WEBHOOK_SECRET: "from-ci" }).map((r) => r.name));
    expect(names).toEqual(expect.arrayContaining(["nightly-tests", "review"]));
  });

  it("the schemas refuse a broken object", () => {
    const worker = structuredClone(one("Deployment", "claudecluster-worker"));
    worker.spec.template.spec.containers[0].ports[0].containerPort = "8080/tcp";
    expect(() => validateObject(worker)).toThrow(/containerPort must be integer/);
    const hpa = structuredClone(one("HorizontalPodAutoscaler", "claudecluster-worker"));
    delete hpa.spec.scaleTargetRef;
    expect(() => validateObject(hpa)).toThrow(/scaleTargetRef/);
    const run = structuredClone(cloudRun("claudecluster-worker"));
    run.spec.template.spec.containerConcurrency = "four";
    expect(() => validateObject(run)).toThrow(/containerConcurrency must be integer/);
    expect(() => validateObject({ apiVersion: "v1", kind: "Pod", metadata: { name: "x" } })).toThrow(/no schema/);
  });

  it("commits no secret: no Secret object with values, no credential in the text", () => {
    for (const { file, obj } of OBJECTS.filter((m) => m.obj.kind === "Secret")) {
      expect(obj.data ?? obj.stringData ?? {}, `${file} holds secret values`).toEqual({});
    }
    for (const file of filesUnder(DEPLOY, () => true)) {
      expect(readFileSync(file, "utf8"), relative(ROOT, file)).not.toMatch(/sk-ant-[A-Za-z0-9]{8,}|-----BEGIN [A-Z ]*PRIVATE KEY/);
    }
  });
});

// The restricted Pod Security Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
// as far as a pod spec shows it, plus what this project's images need beyond it.
const RESTRICTED_VOLUMES = new Set(["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]);

function restrictedProblems(pod: Doc): string[] {
  const problems: string[] = [];
  const podSc = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push("uses a host namespace");
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== "name") ?? "";
    if (!RESTRICTED_VOLUMES.has(type)) problems.push(`volume ${volume.name} is ${type}`);
  }
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.privileged) problems.push(`${at}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${at}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).some((cap: string) => cap !== "NET_BIND_SERVICE")) problems.push(`${at}: adds capabilities`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problems.push(`${at}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? podSc.runAsUser) !== 1000) problems.push(`${at}: runAsUser is not 1000 (the images' node user)`);
    if (!["RuntimeDefault", "Localhost"].includes((sc.seccompProfile ?? podSc.seccompProfile)?.type)) problems.push(`${at}: no RuntimeDefault seccomp profile`);
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: root filesystem is writable`);
    if ((c.ports ?? []).some((p: Doc) => p.hostPort)) problems.push(`${at}: uses a host port`);
  }
  return problems;
}

describe("Kubernetes (deploy/k8s)", () => {
  const kustomization = loadYaml(join(K8S, "kustomization.yaml"))[0];
  const router = one("Deployment", "claudecluster-router");
  const worker = one("Deployment", "claudecluster-worker");
  const deployments = { router, worker };
  const containerOf = (d: Doc): Doc => d.spec.template.spec.containers[0];

  it("the kustomization lists every resource file there is, and nothing else", () => {
    const files = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml" && !f.includes(".example."));
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(kustomization.namespace).toBe("claudecluster");
    for (const { file, obj } of OBJECTS.filter((m) => m.file.startsWith("deploy/k8s/"))) {
      if (obj.kind !== "Namespace") expect(obj.metadata.namespace ?? kustomization.namespace, file).toBe("claudecluster");
    }
  });

  it("the namespace enforces the restricted Pod Security Standard", () => {
    const ns = one("Namespace", "claudecluster");
    expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
  });

  it("every pod meets the restricted standard, with a read-only root filesystem", () => {
    for (const d of [...k8s("Deployment"), ...k8s("StatefulSet")]) expect(restrictedProblems(d.spec.template.spec), d.metadata.name).toEqual([]);
    const loose = structuredClone(worker.spec.template.spec);
    loose.containers[0].securityContext.allowPrivilegeEscalation = true;
    delete loose.containers[0].securityContext.capabilities;
    loose.volumes.push({ name: "docker", hostPath: { path: "/var/run/docker.sock" } });
    expect(restrictedProblems(loose)).toEqual([
      "volume docker is hostPath",
      "container worker: allowPrivilegeEscalation is not false",
      "container worker: capabilities do not drop ALL",
    ]);
  });

  it("the writable paths are emptyDir volumes: /tmp for both, claude's HOME and the workspaces for workers", () => {
    const writable = (d: Doc) => {
      const emptyDirs = new Set(d.spec.template.spec.volumes.filter((v: Doc) => v.emptyDir).map((v: Doc) => v.name));
      return containerOf(d)
        .volumeMounts.filter((m: Doc) => emptyDirs.has(m.name) && !m.readOnly)
        .map((m: Doc) => m.mountPath)
        .sort();
    };
    expect(writable(router)).toEqual(["/tmp"]);
    expect(writable(worker)).toEqual(["/home/node", "/tmp", "/workspace"]);
  });

  it("probes ask grpc.health.v1 on the serving port, named grpc", () => {
    for (const d of k8s("Deployment")) {
      const c = containerOf(d);
      expect(c.ports).toEqual([{ name: "grpc", containerPort: 8080, protocol: "TCP" }]);
      expect(envValue(c, "PORT") ?? "8080").toBe("8080");
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        expect(Object.keys(c[probe]).filter((k) => ["grpc", "httpGet", "tcpSocket", "exec"].includes(k)), `${d.metadata.name} ${probe}`).toEqual(["grpc"]);
        expect(c[probe].grpc.port, `${d.metadata.name} ${probe}`).toBe(8080);
      }
    }
  });

  it("Services name the port grpc and speak h2c to pods they select; Redis's serves only its port", () => {
    const redis = one("Service", "claudecluster-redis");
    expect(redis.spec.ports).toEqual([{ name: "redis", port: 6379, targetPort: "redis", protocol: "TCP" }]);
    expect(one("StatefulSet", "claudecluster-redis").spec.template.metadata.labels).toMatchObject(redis.spec.selector);
    for (const svc of k8s("Service").filter((s) => s !== redis)) {
      expect(svc.spec.ports).toEqual([{ name: "grpc", port: 8080, targetPort: "grpc", protocol: "TCP", appProtocol: "kubernetes.io/h2c" }]);
      const target = k8s("Deployment").find((d) => Object.entries(svc.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
      expect(target?.metadata.name, `Service ${svc.metadata.name} selects no Deployment`).toBe(svc.metadata.name);
    }
  });

  it("secrets come by reference from the Secret claudecluster, never as values", () => {
    const keys = new Set<string>();
    for (const d of [...k8s("Deployment"), ...k8s("StatefulSet")]) {
      for (const e of envOf(containerOf(d))) {
        if (/TOKEN|KEY|SECRET|PASSWORD/.test(e.name)) expect(e.value, `${d.metadata.name} ${e.name} is a literal`).toBeUndefined();
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        expect(ref.name).toBe("claudecluster");
        keys.add(ref.key);
      }
    }
    expect([...keys].sort()).toEqual(["anthropic-api-key", "cc-token", "cc-worker-token", "claude-code-oauth-token", "redis-password"]);
  });

  it("every variable is a setting of its service, and every value parses", () => {
    for (const [service, d] of Object.entries(deployments) as ["worker" | "router", Doc][]) {
      const env = Object.fromEntries(envOf(containerOf(d)).map((e) => [e.name, e.value ?? (e.valueFrom ? "from-a-reference" : "")]));
      expect(settingsProblems(service, env), service).toEqual([]);
    }
    expect(settingsProblems("worker", { CC_MAX_SESSION: "4", CC_SHUTDOWN_GRACE: "ten minutes" })).toEqual([
      "CC_MAX_SESSION is not a worker setting",
      'CC_SHUTDOWN_GRACE="ten minutes": expected a duration such as 30s, 5m or 1h',
    ]);
    expect(settingsProblems("router", { ANTHROPIC_API_KEY: "from-a-reference" })).toEqual(["ANTHROPIC_API_KEY is not a router setting"]);
  });

  it("workers register with the router under their pod IP", () => {
    const env = envOf(containerOf(worker));
    const names = env.map((e) => e.name);
    expect(env.find((e) => e.name === "POD_IP")?.valueFrom).toEqual({ fieldRef: { fieldPath: "status.podIP" } });
    expect(envValue(containerOf(worker), "CC_WORKER_URL")).toBe("http://$(POD_IP):8080");
    // $(VAR) expands only variables defined earlier in the list.
    expect(names.indexOf("POD_IP")).toBeLessThan(names.indexOf("CC_WORKER_URL"));
    const routerSvc = one("Service", "claudecluster-router");
    expect(envValue(containerOf(worker), "CC_ROUTER_URL")).toBe(`http://${routerSvc.metadata.name}:${routerSvc.spec.ports[0].port}`);
    expect(envValue(containerOf(worker), "CC_MAX_SESSIONS")).toMatch(/^\d+$/);
  });

  it("routers: two or more on the Redis store, rolled one at a time, and a disruption budget that keeps one", () => {
    expect(router.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(router.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const env = envOf(containerOf(router));
    const names = env.map((e) => e.name);
    const store = envValue(containerOf(router), "CC_STORE") ?? "";
    expect(store).toBe(`redis://:$(REDIS_PASSWORD)@${one("Service", "claudecluster-redis").metadata.name}:6379/0`);
    expect(names.indexOf("REDIS_PASSWORD")).toBeLessThan(names.indexOf("CC_STORE"));
    expect(env.find((e) => e.name === "CC_ROUTER_ID")?.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    const pdb = one("PodDisruptionBudget", "claudecluster-router");
    expect(pdb.spec.selector.matchLabels).toEqual(router.spec.selector.matchLabels);
    expect(pdb.spec.minAvailable).toBe(1);
    // Redis keeps its append-only file on a volume, and only the routers reach it.
    const redis = one("StatefulSet", "claudecluster-redis");
    expect(redis.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(["--appendonly", "yes", "--requirepass", "$(REDIS_PASSWORD)"]));
    expect(redis.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    const policy = one("NetworkPolicy", "claudecluster-redis");
    expect(policy.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "claudecluster-router" } } }], ports: [{ protocol: "TCP", port: 6379 }] }]);
  });

  it("pods get longer to stop than the services take to drain", () => {
    for (const d of k8s("Deployment")) {
      const c = containerOf(d);
      const needed = ms(envValue(c, "CC_SHUTDOWN_GRACE"), "30s") + ms(envValue(c, "CC_KILL_GRACE"), "5s") + 2000;
      expect(d.spec.template.spec.terminationGracePeriodSeconds * 1000, d.metadata.name).toBeGreaterThanOrEqual(needed);
    }
  });

  it("the autoscaler and the disruption budget cover the workers, and own their count", () => {
    const hpa = one("HorizontalPodAutoscaler", "claudecluster-worker");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "claudecluster-worker" });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(worker.spec.replicas, "replicas would fight the autoscaler on every apply").toBeUndefined();
    const pdb = one("PodDisruptionBudget", "claudecluster-worker");
    expect(pdb.spec.selector.matchLabels).toEqual(worker.spec.selector.matchLabels);
  });

  it("network policy: only the router reaches the workers; the router is open on its port", () => {
    const workerLabels = worker.spec.template.metadata.labels;
    const routerLabels = router.spec.template.metadata.labels;
    const selects = (np: Doc, labels: Record<string, string>) => Object.entries(np.spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v);
    const forWorkers = k8s("NetworkPolicy").filter((np) => selects(np, workerLabels));
    expect(forWorkers).toHaveLength(1);
    const np = forWorkers[0];
    expect(np.spec.policyTypes).toEqual(["Ingress"]);
    expect(np.spec.ingress).toHaveLength(1);
    expect(np.spec.ingress[0].ports).toEqual([{ protocol: "TCP", port: 8080 }]);
    expect(np.spec.ingress[0].from).toHaveLength(1);
    const peer = np.spec.ingress[0].from[0];
    expect(Object.keys(peer)).toEqual(["podSelector"]);
    expect(Object.entries(peer.podSelector.matchLabels).every(([k, v]) => routerLabels[k] === v)).toBe(true);
    expect(Object.entries(peer.podSelector.matchLabels).every(([k, v]) => workerLabels[k] === v)).toBe(false);
    const forRouter = k8s("NetworkPolicy").filter((p) => selects(p, routerLabels));
    expect(forRouter.map((p) => p.spec.ingress)).toEqual([[{ ports: [{ protocol: "TCP", port: 8080 }] }]]);
  });

  it("pods ask Prometheus to scrape /metrics on the serving port and set requests and limits", () => {
    for (const d of k8s("Deployment")) {
      expect(d.spec.template.metadata.annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics" });
      const { requests, limits } = containerOf(d).resources;
      expect(Object.keys(requests).sort(), d.metadata.name).toEqual(["cpu", "memory"]);
      expect(Object.keys(limits).sort(), d.metadata.name).toEqual(["cpu", "memory"]);
    }
  });

  const kubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).status === 0;
  itNeeding(kubectl ? "" : "kubectl is not installed: apt-get install kubernetes-client (npm test installs it)", "kustomize builds it (kubectl kustomize), and what it builds still validates", () => {
    const out = spawnSync("kubectl", ["kustomize", K8S], { encoding: "utf8" });
    expect(out.stderr).toBe("");
    expect(out.status).toBe(0);
    const built = parseAllDocuments(out.stdout).map((d) => d.toJS() as Doc);
    expect(built).toHaveLength(OBJECTS.filter((m) => m.file.startsWith("deploy/k8s/")).length);
    for (const obj of built) {
      validateObject(obj);
      if (obj.kind !== "Namespace") expect(obj.metadata.namespace).toBe("claudecluster");
      expect(obj.metadata.labels["app.kubernetes.io/part-of"]).toBe("claudecluster");
    }
  });
});

describe("Cloud Run (deploy/cloudrun)", () => {
  const worker = cloudRun("claudecluster-worker");
  const router = cloudRun("claudecluster-router");
  const services = { worker, router };
  const containerOf = (s: Doc): Doc => s.spec.template.spec.containers[0];
  const annotations = (s: Doc): Record<string, string> => s.spec.template.metadata.annotations;
  /** Cloud Run gives an instance this long between SIGTERM and SIGKILL. */
  const CLOUD_RUN_SIGKILL_MS = 10_000;

  it("serves gRPC end to end: one port, named h2c, and gRPC probes on it", () => {
    for (const s of Object.values(services)) {
      const c = containerOf(s);
      expect(c.ports).toEqual([{ name: "h2c", containerPort: 8080 }]);
      expect(envValue(c, "PORT"), "Cloud Run sets PORT itself").toBeUndefined();
      for (const probe of ["startupProbe", "livenessProbe"]) expect(c[probe].grpc, `${s.metadata.name} ${probe}`).toEqual({ port: 8080, service: "" });
      expect(s.spec.template.spec.timeoutSeconds).toBe(3600);
      expect(annotations(s)["run.googleapis.com/execution-environment"]).toBe("gen2");
      expect(annotations(s)["run.googleapis.com/cpu-throttling"]).toBe("false");
      expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    }
  });

  it("a worker instance takes exactly as many requests as it has sessions", () => {
    const sessions = Number(envValue(containerOf(worker), "CC_MAX_SESSIONS"));
    expect(sessions).toBeGreaterThan(0);
    expect(worker.spec.template.spec.containerConcurrency).toBe(sessions);
    expect(Number(annotations(worker)["autoscaling.knative.dev/minScale"])).toBeGreaterThanOrEqual(0);
    expect(Number(annotations(worker)["autoscaling.knative.dev/maxScale"])).toBeGreaterThanOrEqual(1);
  });

  it("the router runs as exactly one instance", () => {
    expect(annotations(router)["autoscaling.knative.dev/minScale"]).toBe("1");
    expect(annotations(router)["autoscaling.knative.dev/maxScale"]).toBe("1");
  });

  it("tasks end before Cloud Run cuts their request, and drains fit in its shutdown window", () => {
    for (const s of Object.values(services)) {
      expect(ms(envValue(containerOf(s), "CC_MAX_TASK_TIMEOUT"), "24h"), s.metadata.name).toBeLessThan(s.spec.template.spec.timeoutSeconds * 1000);
    }
    expect(ms(envValue(containerOf(worker), "CC_TASK_TIMEOUT"), "1h")).toBeLessThan(worker.spec.template.spec.timeoutSeconds * 1000);
    const workerKill = ms(envValue(containerOf(worker), "CC_KILL_GRACE"), "5s");
    expect(ms(envValue(containerOf(worker), "CC_SHUTDOWN_GRACE"), "30s") + workerKill + 1000).toBeLessThanOrEqual(CLOUD_RUN_SIGKILL_MS);
    // The router's drain ends with cancels that wait for the workers to end their tasks.
    expect(ms(envValue(containerOf(router), "CC_SHUTDOWN_GRACE"), "30s") + workerKill + 1000).toBeLessThanOrEqual(CLOUD_RUN_SIGKILL_MS);
  });

  it("secrets come from Secret Manager by reference (latest version), never as values", () => {
    for (const s of Object.values(services)) {
      for (const e of envOf(containerOf(s))) {
        if (/TOKEN|KEY|SECRET|PASSWORD/.test(e.name)) {
          expect(e.value, `${s.metadata.name} ${e.name} is a literal`).toBeUndefined();
          expect(e.valueFrom.secretKeyRef).toEqual({ name: expect.stringMatching(/^claudecluster-/), key: "latest" });
        }
      }
    }
  });

  it("every variable is a setting of its service, and every value parses", () => {
    for (const [service, s] of Object.entries(services) as ["worker" | "router", Doc][]) {
      const env = Object.fromEntries(envOf(containerOf(s)).map((e) => [e.name, e.value ?? "from-a-reference"]));
      // deploy.sh fills in the worker pool; an example of what it writes stands in for the placeholder.
      if (env["CC_WORKERS"] === "WORKER_POOL") env["CC_WORKERS"] = "cloudrun=https://w.a.run.app@20";
      expect(settingsProblems(service, env), service).toEqual([]);
    }
  });
});

describe("deploy/cloudrun/deploy.sh, against stand-ins for gcloud and docker", () => {
  const stubs = join(scratch, "bin");
  const secrets = { CC_TOKEN: "client-token-0123456789", ANTHROPIC_API_KEY: "sk-ant-api03-test-key-abcdefgh" };
  /** The first run: an API key, a client token, a generated worker token. */
  let run: ReturnType<typeof deploy>;
  // The stand-in gcloud records every call, says every resource is missing (so all are created), keeps what it is
  // given on stdin and every manifest it is asked to deploy, and answers `run services describe` with a URL.
  const GCLOUD = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$STUB_DIR/calls"
case " $* " in
  *" secrets describe "* | *" repositories describe "* | *" service-accounts describe "*) exit 1 ;;
esac
prev2= prev=
for arg in "$@"; do
  case "$prev2 $prev" in
    "secrets create") cat >"$STUB_DIR/secret-$arg" ;;
    "services replace") cp "$arg" "$STUB_DIR/deployed-$(basename "$arg")" ;;
    "services describe") echo "https://$arg-abc123-ew.a.run.app" ;;
  esac
  prev2=$prev prev=$arg
done
`;
  const DOCKER = `#!/usr/bin/env bash\nprintf 'docker %s\\n' "$*" >>"$STUB_DIR/calls"\n`;
  beforeAll(() => {
    mkdirSync(stubs, { recursive: true });
    writeFileSync(join(stubs, "gcloud"), GCLOUD, { mode: 0o755 });
    writeFileSync(join(stubs, "docker"), DOCKER, { mode: 0o755 });
    run = deploy({ ...secrets, REGION: "europe-west1", TAG: "v9" }, ["--project", "my-project"]);
  });

  function deploy(env: Record<string, string>, args: string[] = []) {
    const dir = mkdtempSync(join(scratch, "run-"));
    const out = spawnSync("bash", [join(DEPLOY, "cloudrun", "deploy.sh"), ...args], {
      encoding: "utf8",
      env: { PATH: `${stubs}:${process.env["PATH"]}`, HOME: dir, STUB_DIR: dir, ...env },
    });
    const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8") : "");
    return { status: out.status, output: out.stdout + out.stderr, calls: read("calls"), read, deployed: (f: string) => loadYaml(join(dir, `deployed-${f}`))[0] };
  }

  it("builds and pushes both images, creates the secrets, and deploys the worker, then the router", () => {
    expect(run.output).not.toMatch(/deploy.sh:/);
    expect(run.status).toBe(0);
    const registry = "europe-west1-docker.pkg.dev/my-project/claudecluster";
    for (const svc of ["worker", "router"]) {
      const image = `${registry}/claudecluster-${svc}:v9`;
      expect(run.calls).toContain(`docker build --platform linux/amd64 -f ${join(ROOT, `Dockerfile.${svc}`)} -t ${image} ${ROOT.replace(/\/$/, "")}`);
      expect(run.calls).toContain(`docker push ${image}`);
    }
    expect(run.read("secret-claudecluster-cc-token")).toBe(secrets.CC_TOKEN);
    expect(run.read("secret-claudecluster-anthropic-api-key")).toBe(secrets.ANTHROPIC_API_KEY);
    expect(run.read("secret-claudecluster-cc-worker-token")).toMatch(/^[0-9a-f]{64}$/);
    const order = run.calls.split("\n").filter((l) => l.includes("run services replace")).map((l) => basename(l.split(" ").find((w) => w.endsWith(".yaml")) ?? ""));
    expect(order).toEqual(["worker.yaml", "router.yaml"]);
    expect(run.output).toContain("export CC_ROUTER_URL=https://claudecluster-router-abc123-ew.a.run.app");
    expect(run.output).toContain('cc run "');
  });

  it("never shows a secret on a command line or in its output", () => {
    const generated = run.read("secret-claudecluster-cc-worker-token");
    for (const value of [...Object.values(secrets), generated]) {
      expect(run.calls).not.toContain(value);
      expect(run.output).not.toContain(value);
    }
  });

  it("deploys manifests with every placeholder filled in, that still validate", () => {
    for (const file of ["worker.yaml", "router.yaml"]) {
      const svc = run.deployed(file);
      expect(JSON.stringify(svc)).not.toMatch(/PROJECT_ID|IMAGE_WORKER|IMAGE_ROUTER|WORKER_POOL/);
      expect(svc.spec.template.spec.serviceAccountName).toBe("claudecluster@my-project.iam.gserviceaccount.com");
      validateObject(svc);
    }
    expect(run.deployed("worker.yaml").spec.template.spec.containers[0].image).toBe("europe-west1-docker.pkg.dev/my-project/claudecluster/claudecluster-worker:v9");
  });

  it("tells the router the worker service's URL and its whole capacity, maxScale × containerConcurrency", () => {
    const pool = envValue(run.deployed("router.yaml").spec.template.spec.containers[0], "CC_WORKERS") ?? "";
    const w = cloudRun("claudecluster-worker").spec.template;
    expect(parseStaticWorker(pool)).toEqual({
      id: "cloudrun",
      url: "https://claudecluster-worker-abc123-ew.a.run.app",
      poolCapacity: Number(w.metadata.annotations["autoscaling.knative.dev/maxScale"]) * w.spec.containerConcurrency,
    });
  });

  it("gives the workers an OAuth token instead when that is the credential", () => {
    const oauth = deploy({ PROJECT_ID: "p", REGION: "us-central1", CLAUDE_CODE_OAUTH_TOKEN: "sk-ant-oat01-test-token-xyz" });
    expect(oauth.status).toBe(0);
    const env = envOf(oauth.deployed("worker.yaml").spec.template.spec.containers[0]);
    expect(env.find((e) => e.name === "CLAUDE_CODE_OAUTH_TOKEN")?.valueFrom.secretKeyRef).toEqual({ name: "claudecluster-claude-code-oauth-token", key: "latest" });
    expect(env.map((e) => e.name)).not.toContain("ANTHROPIC_API_KEY");
    expect(oauth.read("secret-claudecluster-claude-code-oauth-token")).toBe("sk-ant-oat01-test-token-xyz");
  });

  it("with --store, keeps the tasks in Redis (Memorystore) over the VPC and runs several routers", () => {
    const url = "redis://:memorystore-auth-string-0123@10.20.0.3:6379/0";
    const redis = deploy({ ...secrets, REGION: "europe-west1" }, ["--project", "p", "--store", url, "--network", "default", "--subnet", "run-subnet", "--routers", "3"]);
    expect(redis.output).not.toMatch(/deploy.sh:/);
    expect(redis.status).toBe(0);
    expect(redis.read("secret-claudecluster-cc-store")).toBe(url);
    expect(redis.calls).not.toContain("memorystore-auth-string");
    expect(redis.output).not.toContain("memorystore-auth-string");
    const svc = redis.deployed("router.yaml");
    validateObject(svc);
    const c = svc.spec.template.spec.containers[0];
    expect(envOf(c).find((e) => e.name === "CC_STORE")?.valueFrom.secretKeyRef).toEqual({ name: "claudecluster-cc-store", key: "latest" });
    const a = svc.spec.template.metadata.annotations;
    expect(a["autoscaling.knative.dev/maxScale"]).toBe("3");
    expect(JSON.parse(a["run.googleapis.com/network-interfaces"])).toEqual([{ network: "default", subnetwork: "run-subnet" }]);
    expect(a["run.googleapis.com/vpc-access-egress"]).toBe("private-ranges-only");
    // The worker stays off the VPC; without --store the router keeps tasks in memory as one instance.
    expect(redis.deployed("worker.yaml").spec.template.metadata.annotations["run.googleapis.com/network-interfaces"]).toBeUndefined();
    expect(envValue(run.deployed("router.yaml").spec.template.spec.containers[0], "CC_STORE")).toBe("memory");
    expect(run.deployed("router.yaml").spec.template.metadata.annotations["autoscaling.knative.dev/maxScale"]).toBe("1");
    const noNetwork = deploy({ ...secrets, PROJECT_ID: "p", REGION: "r" }, ["--store", url]);
    expect([noNetwork.status, noNetwork.output.trim()]).toEqual([1, "deploy.sh: --store needs --network and --subnet: the router reaches Redis over the VPC"]);
  });

  it("stops before doing anything when something it needs is missing", () => {
    const noRegion = deploy({ PROJECT_ID: "p" });
    expect([noRegion.status, noRegion.output.trim(), noRegion.calls]).toEqual([1, "deploy.sh: set REGION or pass --region", ""]);
    const noCredential = deploy({ PROJECT_ID: "p", REGION: "r" });
    expect(noCredential.status).toBe(1);
    expect(noCredential.output).toContain("deploy.sh: set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN)");
    expect(noCredential.calls).not.toContain("run services replace");
  });
});

describe("Compose (deploy/compose.yaml)", () => {
  const compose = loadYaml(COMPOSE)[0];
  const services: Record<string, Doc> = compose.services;
  const workers = Object.keys(services).filter((name) => name.startsWith("worker"));
  /** Ours: the router and the workers (the redis profile's Redis is Redis's image). */
  const ours = Object.fromEntries(Object.entries(services).filter(([name]) => name !== "redis"));

  // The Compose Specification's own JSON schema, as dclint ships it (schemas/compose.schema.json, copied from
  // compose-spec/compose-spec). Its $schema names draft-07 by an address Ajv does not know it by.
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(join(dirname(require.resolve("dclint/package.json")), "schemas", "compose.schema.json"), "utf8"));
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  const problems = (doc: Doc) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

  it("passes the Compose Specification schema, which refuses a broken copy", () => {
    expect(problems(compose)).toEqual([]);
    const broken = structuredClone(compose);
    broken.services.router.read_only = ["yes"];
    broken.services.router.stop_grace = "40s";
    expect(problems(broken)).toEqual(
      expect.arrayContaining(["/services/router must NOT have additional properties", "/services/router/read_only must be boolean,string"]),
    );
  });

  it("a router and two workers, built from this repository, and a Redis for the task store with --profile redis", () => {
    expect(Object.keys(services).sort()).toEqual(["redis", "router", "worker-1", "worker-2"]);
    expect(services["redis"].profiles).toEqual(["redis"]);
    expect(services["redis"].ports).toBeUndefined();
    expect(services["redis"].networks).toEqual(["store"]);
    expect(compose.networks.store.internal).toBe(true);
    for (const w of workers) expect(services[w].networks ?? ["default"]).not.toContain("store");
    expect(services["router"].networks).toEqual(["default", "store"]);
    expect(services["router"].volumes).toEqual(["router-data:/data"]);
    expect(services["redis"].command).toEqual(expect.arrayContaining(["--appendonly", "yes", "--requirepass", "${REDIS_PASSWORD:?set REDIS_PASSWORD}"]));
    expect(services["router"].build).toEqual({ context: "..", dockerfile: "Dockerfile.router" });
    expect(services["router"].image).toBe("claudecluster-router");
    for (const w of workers) {
      expect(services[w].build).toEqual({ context: "..", dockerfile: "Dockerfile.worker" });
      expect(services[w].image).toBe("claudecluster-worker");
    }
  });

  it("the router is published on 127.0.0.1:8400 and nothing else is", () => {
    expect(services["router"].ports).toEqual(["127.0.0.1:8400:8080"]);
    for (const w of workers) expect(services[w].ports).toBeUndefined();
  });

  it("containers are read-only, with tmpfs only where the services write", () => {
    const paths = (s: Doc) => (s.tmpfs as string[]).map((t) => t.split(":")[0]).sort();
    expect(services["router"].read_only).toBe(true);
    expect(paths(services["router"])).toEqual(["/tmp"]);
    expect(services["redis"].read_only).toBe(true);
    for (const w of workers) {
      expect(services[w].read_only).toBe(true);
      expect(paths(services[w])).toEqual(["/home/node", "/tmp", "/workspace"]);
      expect(services[w].tmpfs.find((t: string) => t.startsWith("/home/node:"))).toContain("uid=1000");
    }
    for (const s of Object.values(services)) expect(s.cap_drop).toEqual(["ALL"]);
  });

  it("tokens come from the environment, and compose refuses to start without them", () => {
    expect(services["router"].environment["CC_TOKEN"]).toMatch(/^\$\{CC_TOKEN:\?.+\}$/);
    for (const s of Object.values(ours)) expect(s.environment["CC_WORKER_TOKEN"]).toMatch(/^\$\{CC_WORKER_TOKEN:\?.+\}$/);
    // Passed through when set in the environment of `docker compose`, absent otherwise.
    const passed = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"];
    for (const w of workers) for (const name of passed) expect(services[w].environment).toHaveProperty([name], null);
  });

  it("workers register with the router under their own service name", () => {
    for (const w of workers) {
      const env = services[w].environment;
      expect(env).toMatchObject({ CC_ROUTER_URL: "http://router:8080", CC_WORKER_URL: `http://${w}:8080`, CC_WORKER_ID: w });
      expect(services[w].hostname).toBe(w);
    }
  });

  it("every variable is a setting of its service, and every value parses", () => {
    // As compose reads them: `${VAR:-default}` with VAR unset is the default.
    const interpolated = (env: Record<string, string | null>) =>
      Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === "string" ? v.replace(/^\$\{\w+:-([^}]*)\}$/, "$1") : v]));
    for (const [name, s] of Object.entries(ours)) {
      // The default, and the redis profile's URL.
      expect(settingsProblems(name === "router" ? "router" : "worker", interpolated(s.environment)), name).toEqual([]);
    }
    expect(settingsProblems("router", { ...services["router"].environment, CC_STORE: "redis://:password@redis:6379/0" })).toEqual([]);
  });

  it("healthchecks run the images' probe, and docker stop waits longer than the services drain", () => {
    for (const [name, s] of Object.entries(ours)) {
      expect(s.healthcheck.test).toEqual(["CMD", "node", "/app/dist/services/common/healthcheck.js"]);
      const needed = ms(s.environment["CC_SHUTDOWN_GRACE"], "30s") + ms(s.environment["CC_KILL_GRACE"], "5s") + 2000;
      expect(ms(s.stop_grace_period, "10s"), name).toBeGreaterThanOrEqual(needed);
    }
  });
});

describe("Dockerfiles and shell scripts", () => {
  const shellcheckMissing = spawnSync("shellcheck", ["--version"]).status === 0 ? "" : "shellcheck is not installed: apt-get install shellcheck (npm test installs it)";
  const LINTER = join(ROOT, "node_modules", "dockerlinter", "bin", "dockerfilelinter.js");
  /**
   * Findings ignored, with the reason:
   * - ER0012 (pin versions in apt-get install): the base image is pinned by tag and Debian moves package versions
   *   under it, so pins would break builds; the image digest, not package versions, is what to pin.
   */
  const IGNORED = ["ER0012"];

  interface Finding {
    lineNumber: number;
    code: string;
    level: string;
    message: string;
  }

  /** dockerlinter's findings; it runs shellcheck on every RUN. */
  function lintDockerfile(text: string): Finding[] {
    // dockerlinter reads BuildKit's `RUN --mount=...` flags as part of the shell command (SC2215): drop them from a
    // copy, keeping line numbers. It also writes its shellcheck input to the current directory.
    const dir = mkdtempSync(join(scratch, "lint-"));
    writeFileSync(join(dir, "Dockerfile"), text.replace(/^(\s*RUN\s+)((?:--[a-z-]+=\S+\s+)+)/gim, "$1"));
    const out = spawnSync(process.execPath, [LINTER, "-f", "Dockerfile", "-j", "-e", "info", "-i", IGNORED.join(",")], { cwd: dir, encoding: "utf8" });
    if (out.status !== 0 && !out.stdout.trim().startsWith("[")) throw new Error(`dockerlinter failed: ${out.stdout}${out.stderr}`);
    return out.stdout.trim() ? (JSON.parse(out.stdout) as Finding[]) : [];
  }

  for (const name of ["Dockerfile.worker", "Dockerfile.router"]) {
    itNeeding(shellcheckMissing, `${name} passes dockerlinter and shellcheck`, () => {
      expect(lintDockerfile(readFileSync(join(ROOT, name), "utf8"))).toEqual([]);
    });
  }

  itNeeding(shellcheckMissing, "dockerlinter, and shellcheck through it, find problems in a broken Dockerfile", () => {
    const codes = lintDockerfile("FROM node\nRUN --mount=type=cache,target=/root/.npm cd /app && npm ci $FLAGS\nADD . /app\n").map((f) => f.code);
    expect(codes).toEqual(expect.arrayContaining(["EF0004", "ER0003", "EA0002", "SC2086"]));
    expect(codes).not.toContain("SC2215");
  });

  const scripts = [...filesUnder(DEPLOY, (n) => n.endsWith(".sh")), ...filesUnder(join(ROOT, "scripts"), (n) => n.endsWith(".sh"))];
  itNeeding(shellcheckMissing, "shellcheck passes every script in deploy/ and scripts/, and fails a broken one", () => {
    expect(scripts.map((s) => relative(ROOT, s))).toContain("deploy/cloudrun/deploy.sh");
    const run = (files: string[]) => spawnSync("shellcheck", ["--format", "gcc", ...files], { encoding: "utf8" });
    const clean = run(scripts);
    expect(clean.stdout).toBe("");
    expect(clean.status).toBe(0);
    const broken = join(scratch, "broken.sh");
    writeFileSync(broken, "#!/usr/bin/env bash\nrm -rf $1/\n");
    expect(run([broken]).stdout).toContain("SC2086");
  });
});
