/**
 * The committed JSON Schemas of `/status` and `/peers` (`docs/*.schema.json`) are exactly what
 * `JSONSchema.make` makes from the Schemas the server's answers are typed with, so they cannot rot.
 * After changing an answer's Schema, regenerate them with
 * `UPDATE_JSON_SCHEMAS=1 npx vitest run test/layers/status/schemas.test.ts` and commit the files.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { jsonSchemaText, peersJsonSchema, statusJsonSchema } from "../../../src/layers/status/jsonSchemas.js"

const docs = join(import.meta.dirname, "../../../docs")

describe("the committed JSON Schemas of the status answers", () => {
  for (const [file, make] of [
    ["status.schema.json", statusJsonSchema],
    ["peers.schema.json", peersJsonSchema]
  ] as const) {
    it(`docs/${file} is what the Schema generates`, () => {
      const generated = jsonSchemaText(make())
      if (process.env["UPDATE_JSON_SCHEMAS"] === "1") writeFileSync(join(docs, file), generated)
      expect(readFileSync(join(docs, file), "utf8"), `docs/${file} is stale: regenerate it (see this test's header)`).toBe(generated)
    })
  }
})
