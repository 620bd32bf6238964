/**
 * JSON Schemas (draft-07) of the `/status` and `/peers` answers, made by `JSONSchema.make` from the
 * Schemas that type them, for clients in other languages. Committed as `docs/status.schema.json` and
 * `docs/peers.schema.json`; a test checks the files equal what these make, so they cannot drift.
 */
import { JSONSchema } from "effect"
import { PeersAnswer } from "./peersView.js"
import { StatusAnswer } from "./statusView.js"

/** The JSON Schema of `GET /status`. */
export const statusJsonSchema = (): JSONSchema.JsonSchema7Root => JSONSchema.make(StatusAnswer)

/** The JSON Schema of `GET /peers`. */
export const peersJsonSchema = (): JSONSchema.JsonSchema7Root => JSONSchema.make(PeersAnswer)

/** A schema as committed: two-space indented JSON ending with a line feed. */
export const jsonSchemaText = (schema: JSONSchema.JsonSchema7Root): string => `${JSON.stringify(schema, null, 2)}\n`
