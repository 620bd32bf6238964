/**
 * `soma-p2p config --schema` prints the JSON Schema of the node configuration file, made from the
 * `Schema` that validates the file: it must parse as a draft-07 JSON Schema, name the fields an operator
 * writes, accept the configurations `genesis` writes and reject broken ones at the right field.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { devnetGenesis } from "../../src/programs/devnet/layout.js"
import { encodeNodeConfig } from "../../src/programs/node/NodeConfig.js"

type JsonSchema = { readonly [keyword: string]: unknown }

/**
 * A validator for the draft-07 keywords the schema uses. Any other keyword fails the test, so an
 * accepted config is never one whose constraints were skipped. (No JSON Schema library is a
 * dependency of the project; this is enough for one schema.)
 */
const validate = (root: JsonSchema, value: unknown): Array<string> => {
  const problems: Array<string> = []
  const known = new Set(["$schema", "$defs", "$ref", "title", "description", "type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems", "properties", "required", "additionalProperties", "allOf", "anyOf"])
  const typeOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : Number.isInteger(v) ? "integer" : typeof v)
  const go = (schema: JsonSchema, v: unknown, path: string): void => {
    for (const keyword of Object.keys(schema)) if (!known.has(keyword)) throw new Error(`keyword ${keyword} at ${path} is not supported by this test`)
    if (typeof schema["$ref"] === "string") {
      const name = (schema["$ref"] as string).replace(/^#\/\$defs\//, "")
      const target = (root["$defs"] as Record<string, JsonSchema> | undefined)?.[name]
      if (target === undefined) throw new Error(`unresolved $ref ${String(schema["$ref"])}`)
      go(target, v, path)
    }
    for (const sub of (schema["allOf"] as Array<JsonSchema> | undefined) ?? []) go(sub, v, path)
    const anyOf = schema["anyOf"] as Array<JsonSchema> | undefined
    if (anyOf !== undefined && !anyOf.some((sub) => validate({ ...root, ...sub }, v).length === 0)) problems.push(`${path}: matches no alternative`)
    const type = schema["type"] as string | undefined
    if (type !== undefined && !(typeOf(v) === type || (type === "number" && typeOf(v) === "integer"))) {
      problems.push(`${path}: expected ${type}, got ${typeOf(v)}`)
      return
    }
    const enumeration = schema["enum"] as Array<unknown> | undefined
    if (enumeration !== undefined && !enumeration.includes(v)) problems.push(`${path}: not one of ${enumeration.join(", ")}`)
    if (typeof v === "string") {
      if (typeof schema["pattern"] === "string" && !new RegExp(schema["pattern"]).test(v)) problems.push(`${path}: does not match ${schema["pattern"]}`)
      if (typeof schema["minLength"] === "number" && v.length < schema["minLength"]) problems.push(`${path}: shorter than ${schema["minLength"]}`)
      if (typeof schema["maxLength"] === "number" && v.length > schema["maxLength"]) problems.push(`${path}: longer than ${schema["maxLength"]}`)
    }
    if (typeof v === "number") {
      if (typeof schema["minimum"] === "number" && v < schema["minimum"]) problems.push(`${path}: below ${schema["minimum"]}`)
      if (typeof schema["maximum"] === "number" && v > schema["maximum"]) problems.push(`${path}: above ${schema["maximum"]}`)
      if (typeof schema["exclusiveMinimum"] === "number" && v <= schema["exclusiveMinimum"]) problems.push(`${path}: not above ${schema["exclusiveMinimum"]}`)
      if (typeof schema["exclusiveMaximum"] === "number" && v >= schema["exclusiveMaximum"]) problems.push(`${path}: not below ${schema["exclusiveMaximum"]}`)
    }
    if (Array.isArray(v)) {
      if (typeof schema["minItems"] === "number" && v.length < schema["minItems"]) problems.push(`${path}: fewer than ${schema["minItems"]} items`)
      if (typeof schema["maxItems"] === "number" && v.length > schema["maxItems"]) problems.push(`${path}: more than ${schema["maxItems"]} items`)
      const items = schema["items"] as JsonSchema | undefined
      if (items !== undefined) v.forEach((item, i) => go(items, item, `${path}.${i}`))
    }
    if (typeOf(v) === "object") {
      const object = v as Record<string, unknown>
      for (const field of (schema["required"] as Array<string> | undefined) ?? []) if (!(field in object)) problems.push(`${path}.${field}: is missing`)
      const properties = (schema["properties"] as Record<string, JsonSchema> | undefined) ?? {}
      for (const [field, fieldValue] of Object.entries(object)) {
        const property = properties[field]
        if (property !== undefined) go(property, fieldValue, `${path}.${field}`)
        else if (schema["additionalProperties"] === false) problems.push(`${path}.${field}: is unexpected`)
      }
    }
  }
  go(root, value, "config")
  return problems
}

const dir = mkdtempSync(join(tmpdir(), "soma-config-schema-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const { nodes } = devnetGenesis({ validators: 4, fullnodes: 1, basePort: 9200, dir, plaintext: false, seed: 5, commitsPerEpoch: 10, transactionsPerBlock: 1 })
const fullNode = encodeNodeConfig(nodes[4]!.config) as Record<string, unknown>
const validator = encodeNodeConfig(nodes[0]!.config) as Record<string, unknown>

describe("config --schema: the node configuration's JSON Schema", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", "src/programs/cli.ts", "config", "--schema"], { encoding: "utf8", timeout: 60_000 })

  it("prints a draft-07 JSON Schema of the file, with the fields an operator writes", () => {
    expect(run.status, run.stderr).toBe(0)
    const schema = JSON.parse(run.stdout) as JsonSchema
    expect(schema["$schema"]).toBe("http://json-schema.org/draft-07/schema#")
    expect(schema["type"]).toBe("object")
    expect(schema["additionalProperties"]).toBe(false)
    expect(schema["required"]).toEqual(["role", "networkKey", "listenAddress", "storagePath", "genesisCommittee"])
    const properties = schema["properties"] as Record<string, JsonSchema>
    expect(Object.keys(properties)).toEqual(
      expect.arrayContaining(["name", "role", "networkKey", "protocolKey", "listenAddress", "externalAddress", "seedPeers", "allowlistedPeers", "storagePath", "genesisCommittee", "trustedCheckpoint", "metricsPort", "logLevel", "logFormat", "discovery", "sync", "limits"])
    )
    for (const [field, property] of Object.entries(properties)) expect(typeof property["description"], field).toBe("string")
    expect(properties["role"]?.["enum"]).toEqual(["Validator", "FullNode"])
    expect(properties["logFormat"]?.["enum"]).toEqual(["logfmt", "json", "pretty"])
    expect(properties["networkKey"]?.["pattern"]).toBe("^[0-9a-f]{64}$")
    expect(properties["metricsPort"]).toMatchObject({ minimum: 0, maximum: 65_535 })
  })

  it("accepts the configurations genesis writes (a full node and a validator)", () => {
    const schema = JSON.parse(run.stdout) as JsonSchema
    expect(validate(schema, fullNode)).toEqual([])
    expect(validate(schema, validator)).toEqual([])
    expect(validate(schema, { ...fullNode, logFormat: "json", metricsPort: 9184 })).toEqual([])
  })

  it("rejects broken configurations at the field that is wrong", () => {
    const schema = JSON.parse(run.stdout) as JsonSchema
    const { storagePath: _omit, ...noStorage } = fullNode
    expect(validate(schema, noStorage)).toEqual(["config.storagePath: is missing"])
    expect(validate(schema, { ...fullNode, networkKey: "xyz" })).toEqual(["config.networkKey: does not match ^[0-9a-f]{64}$"])
    expect(validate(schema, { ...fullNode, listenAddress: "localhost" })[0]).toMatch(/^config\.listenAddress: does not match/)
    expect(validate(schema, { ...fullNode, metricsPort: 70_000 })).toEqual(["config.metricsPort: above 65535"])
    expect(validate(schema, { ...fullNode, logFormat: "xml" })).toEqual(["config.logFormat: not one of logfmt, json, pretty"])
    expect(validate(schema, { ...fullNode, seedPeer: [] })).toEqual(["config.seedPeer: is unexpected"])
  })
})
