// Validates Kubernetes objects the way the API server reads them, offline: the official
// OpenAPI schemas as compiled by kubernetes-models (types, required fields, formats, enums),
// plus unknown fields (which the schemas allow but the API server's strict field validation
// refuses), found with the attribute maps of the official client (@kubernetes/client-node),
// generated from the same OpenAPI document. ES modules only, so tests run it as a child
// process: a JSON array of objects on stdin, a JSON array of findings on stdout.
import * as client from "@kubernetes/client-node";

/** `apps/v1` + `Deployment` -> kubernetes-models module and client class. */
function modelsFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const modulePath =
    group === "" ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
  const className = `${version[0].toUpperCase()}${version.slice(1)}${kind}`;
  return { modulePath, clientClass: client[className] };
}

/** Paths of fields the client's generated model does not know. */
function unknownFields(value, typeName, path, found) {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(typeName);
  if (array) {
    if (Array.isArray(value))
      value.forEach((item, i) => unknownFields(item, array[1], `${path}[${i}]`, found));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    for (const [key, item] of Object.entries(value)) unknownFields(item, map[1], `${path}.${key}`, found);
    return;
  }
  const model = client[typeName];
  if (typeof model?.getAttributeTypeMap !== "function" || typeof value !== "object") return;
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    if (!attributes.has(key)) found.push(`${path}.${key}`);
    else unknownFields(item, attributes.get(key), `${path}.${key}`, found);
  }
}

const objects = JSON.parse(
  await new Promise((resolve) => {
    let text = "";
    process.stdin
      .setEncoding("utf8")
      .on("data", (c) => (text += c))
      .on("end", () => resolve(text));
  }),
);
const results = [];
for (const object of objects) {
  const { apiVersion, kind } = object;
  const name = `${kind} ${object.metadata?.name ?? "?"}`;
  const { modulePath, clientClass } = modelsFor(apiVersion, kind);
  const errors = [];
  let Model;
  try {
    Model = (await import(modulePath))[kind];
  } catch (err) {
    errors.push(`no schema for ${apiVersion} ${kind}: ${err.message}`);
  }
  if (Model) {
    try {
      new Model(object).validate();
    } catch (err) {
      errors.push(...String(err.message).split(/,\s*(?=data)/));
    }
  }
  const unknown = [];
  if (clientClass) unknownFields(object, clientClass.name, kind, unknown);
  else errors.push(`the client has no model ${apiVersion} ${kind}`);
  results.push({ name, errors, unknownFields: unknown });
}
process.stdout.write(JSON.stringify(results));
