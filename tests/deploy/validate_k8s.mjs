// validate_k8s.mjs - checks the rendered Kubernetes overlays (kubectl kustomize
// deploy/kubernetes/overlays/NAME > NAME.yaml), run by test_kubernetes.sh.
//
//   node validate_k8s.mjs single=single.yaml ha=ha.yaml
//
// 1. Schema: every object validates against the Kubernetes API's schema for
//    its apiVersion and kind (npm kubernetes-models: the OpenAPI spec's
//    definitions as JSON schemas, compiled with ajv). Those schemas allow
//    unknown fields (so does the API server, which drops them, unless asked
//    for strict field validation), so a misspelt key (`readinesProbe`) would
//    pass: every key is also probed. A key is known to the schema if putting
//    a value of the wrong type under it makes validation fail at its path
//    (an array where the key held something else, `true` where it held an
//    array); a key whose probe passes is unknown, and reported as such.
// 2. What docs/kubernetes.md promises of each overlay: the kinds present,
//    names that resolve (ConfigMap, Secret, ServiceAccount, Service
//    selectors, PDB), probes on /healthz and /readyz, resources, the
//    restrictive securityContext, the store of each overlay, and the herald
//    container identical in both overlays but for HERALD_STORE.
import fs from "node:fs";
import { createRequire } from "node:module";
import yaml from "js-yaml";

const require = createRequire(import.meta.url);
let failures = 0;
let passes = 0;
function check(ok, what) {
  if (ok) {
    passes++;
  } else {
    failures++;
    console.error("FAIL: " + what);
  }
}

function modelOf(obj) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  const path = group === "" ? `kubernetes-models/${version}/${obj.kind}` : `kubernetes-models/${group}/${version}/${obj.kind}`;
  try {
    return require(path)[obj.kind];
  } catch (e) {
    return null;
  }
}

function schemaErrors(Model, obj) {
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    if (!Array.isArray(e.errors)) {
      throw e;
    }
    return e.errors;
  }
}

// Every key path of obj: [["spec"], ["spec", "replicas"], ["spec", "template"], ...].
function keyPaths(v, prefix = [], out = []) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => keyPaths(x, prefix.concat([i]), out));
  } else if (v !== null && typeof v === "object") {
    for (const k of Object.keys(v)) {
      out.push(prefix.concat([k]));
      keyPaths(v[k], prefix.concat([k]), out);
    }
  }
  return out;
}

function setAt(obj, path, value) {
  const copy = structuredClone(obj);
  let cur = copy;
  for (const p of path.slice(0, -1)) {
    cur = cur[p];
  }
  cur[path[path.length - 1]] = value;
  return copy;
}

function getAt(obj, path) {
  return path.reduce((cur, p) => (cur == null ? undefined : cur[p]), obj);
}

function pointer(path) {
  return "/" + path.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
}

function validateSchema(name, obj) {
  const what = `${name}: ${obj.kind}/${obj.metadata?.name}`;
  const Model = modelOf(obj);
  check(Model !== null, `${what}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`);
  if (Model === null) {
    return;
  }
  const errs = schemaErrors(Model, obj);
  check(errs.length === 0, `${what}: ${errs.map((e) => `${e.instancePath} ${e.message}`).join("; ")}`);
  const unknown = [];
  for (const path of keyPaths(obj)) {
    const ptr = pointer(path);
    if ((path.length === 1 && (path[0] === "apiVersion" || path[0] === "kind")) ||
        unknown.some((u) => ptr.startsWith(u + "/"))) {
      continue; // the keys under an unknown one are reported with it
    }
    const probe = Array.isArray(getAt(obj, path)) ? true : [[]];
    const hit = schemaErrors(Model, setAt(obj, path, probe)).some(
      (e) => e.instancePath === ptr || e.instancePath.startsWith(ptr + "/"));
    check(hit, `${what}: ${ptr.slice(1).replace(/\//g, ".")}: not a field of ${obj.apiVersion} ${obj.kind} (misspelt?)`);
    if (!hit) {
      unknown.push(ptr);
    }
  }
}

const sameLabels = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => labels?.[k] === v);

function checkOverlay(name, objs) {
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const one = (k) => byKind(k)[0];
  for (const k of ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret", "ConfigMap",
                   "Service", "PodDisruptionBudget"]) {
    check(byKind(k).length >= 1, `${name}: no ${k}`);
  }
  const workloads = objs.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
  check(workloads.length === 1, `${name}: ${workloads.length} workloads, expected one`);
  const w = workloads[0];
  if (w === undefined) {
    return null;
  }
  const ns = one("Namespace")?.metadata.name;
  for (const o of objs) {
    if (!["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(o.kind)) {
      check(o.metadata.namespace === ns, `${name}: ${o.kind}/${o.metadata.name} is not in namespace ${ns}`);
    }
  }
  const role = one("ClusterRole");
  check(role?.rules?.some((r) => r.apiGroups.includes("") && r.resources.includes("events") &&
                           ["get", "list", "watch"].every((v) => r.verbs.includes(v))),
        `${name}: the ClusterRole does not allow get, list, watch on core events`);
  const binding = one("ClusterRoleBinding");
  const pod = w.spec.template.spec;
  check(binding?.roleRef.name === role?.metadata.name &&
        binding?.subjects.some((s) => s.kind === "ServiceAccount" && s.name === pod.serviceAccountName && s.namespace === ns),
        `${name}: the ClusterRoleBinding does not bind the ClusterRole to the pods' ServiceAccount`);
  check(byKind("ServiceAccount").some((s) => s.metadata.name === pod.serviceAccountName),
        `${name}: ServiceAccount ${pod.serviceAccountName} is not defined`);

  const podLabels = w.spec.template.metadata.labels;
  check(sameLabels(w.spec.selector.matchLabels, podLabels), `${name}: the workload's selector does not match its pods`);
  for (const s of byKind("Service")) {
    check(sameLabels(s.spec.selector, podLabels), `${name}: Service/${s.metadata.name} selects no herald pod`);
  }
  check(sameLabels(one("PodDisruptionBudget")?.spec.selector.matchLabels, podLabels),
        `${name}: the PodDisruptionBudget selects no herald pod`);

  check(pod.securityContext?.runAsNonRoot === true && pod.securityContext?.seccompProfile?.type === "RuntimeDefault",
        `${name}: the pod securityContext lacks runAsNonRoot or seccomp RuntimeDefault`);
  check(pod.containers.length === 1, `${name}: one container expected`);
  const c = pod.containers[0];
  const sc = c.securityContext || {};
  check(sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false && sc.runAsNonRoot === true &&
        (sc.capabilities?.drop || []).includes("ALL") && sc.seccompProfile?.type === "RuntimeDefault",
        `${name}: the container securityContext is not restrictive (readOnlyRootFilesystem, no privilege escalation, runAsNonRoot, drop ALL, seccomp)`);
  check(c.livenessProbe?.httpGet?.path === "/healthz", `${name}: no liveness probe on /healthz`);
  check(c.readinessProbe?.httpGet?.path === "/readyz", `${name}: no readiness probe on /readyz`);
  check(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory,
        `${name}: resources lack cpu/memory requests or a memory limit`);

  const cms = byKind("ConfigMap").map((m) => m.metadata.name);
  for (const v of pod.volumes || []) {
    if (v.configMap) {
      check(cms.includes(v.configMap.name), `${name}: volume ${v.name} names ConfigMap ${v.configMap.name}, not defined`);
    }
  }
  const cfgVol = (pod.volumes || []).find((v) => v.configMap);
  const cfgMount = c.volumeMounts.find((m) => m.name === cfgVol?.name);
  const cm = byKind("ConfigMap").find((m) => m.metadata.name === cfgVol?.configMap.name);
  check(cfgMount && c.args.join(" ").includes(`--config ${cfgMount.mountPath}/herald.yaml`) && cm?.data?.["herald.yaml"],
        `${name}: herald is not started with the ConfigMap's herald.yaml`);
  const secrets = byKind("Secret").map((s) => s.metadata.name);
  for (const e of c.env || []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      check(secrets.includes(ref.name), `${name}: env ${e.name} reads Secret ${ref.name}, not defined`);
    }
  }
  const dataMount = c.volumeMounts.find((m) => m.mountPath === "/var/lib/herald");
  check(dataMount !== undefined, `${name}: nothing mounted on /var/lib/herald (the root filesystem is read-only)`);
  const envNames = (c.env || []).map((e) => e.name);
  if (name === "single") {
    check(w.kind === "StatefulSet" && w.spec.replicas === 1, `${name}: expected a StatefulSet of 1 replica`);
    check(w.spec.volumeClaimTemplates?.some((t) => t.metadata.name === dataMount?.name),
          `${name}: the data dir is not on a PersistentVolumeClaim`);
    check(!envNames.includes("HERALD_STORE") && !/^store:/m.test(cm?.data?.["herald.yaml"] || ""),
          `${name}: the store is not the embedded SQLite`);
    check(byKind("Service").some((s) => s.metadata.name === w.spec.serviceName && s.spec.clusterIP === "None"),
          `${name}: the StatefulSet's serviceName is not a headless Service`);
  } else if (name === "ha") {
    check(w.kind === "Deployment" && w.spec.replicas === 3, `${name}: expected a Deployment of 3 replicas`);
    const store = (c.env || []).find((e) => e.name === "HERALD_STORE");
    check(store?.valueFrom?.secretKeyRef !== undefined, `${name}: HERALD_STORE does not come from a Secret`);
  }
  return c;
}

const containers = {};
for (const arg of process.argv.slice(2)) {
  const [name, file] = arg.split("=");
  const objs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((o) => o !== null);
  check(objs.length > 0, `${name}: ${file} holds no object`);
  for (const o of objs) {
    validateSchema(name, o);
  }
  containers[name] = checkOverlay(name, objs);
  console.log(`${name}: ${objs.length} objects (${objs.map((o) => o.kind).join(", ")})`);
}
if (containers.single && containers.ha) {
  const strip = (c) => ({ ...c, env: (c.env || []).filter((e) => e.name !== "HERALD_STORE") });
  check(JSON.stringify(strip(containers.single)) === JSON.stringify(strip(containers.ha)),
        "the herald container differs between overlays single and ha beyond HERALD_STORE");
}
console.log(`validate_k8s: ${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
