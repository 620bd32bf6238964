/**
 * The plaintext caller-token verifier on its own: the strict key check, and the budgets that keep one
 * connection (or address, or key) from filling the remembered-token table and locking others out.
 */
import { createPublicKey, verify } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { intentMessage, IntentScope } from "../../../../src/domain/intent.js"
import { peerIdFromPublicKey } from "../../../../src/domain/PeerId.js"
import { mintCallerToken, TOKEN_BYTES, TOKEN_MAX_AGE_MS } from "../../../../src/layers/network/grpc/callerToken.js"
import {
  CallerTokenVerifier,
  MAX_LIVE_TOKENS_PER_ADDRESS,
  MAX_LIVE_TOKENS_PER_CALLER,
  MAX_LIVE_TOKENS_PER_CONNECTION
} from "../../../../src/layers/network/grpc/callerTokenVerifier.js"
import { ed25519PrivateKey } from "../../../../src/layers/network/grpc/certificate.js"
import { testKeypair, testPeerId } from "../fixtures.js"

const SERVER = testPeerId(0)
const NOW = 1_700_000_000_000
const signers = new Map<number, { readonly privateKey: ReturnType<typeof ed25519PrivateKey>; readonly publicKey: Uint8Array }>()
const signer = (index: number) => {
  let known = signers.get(index)
  if (known === undefined) {
    known = { privateKey: ed25519PrivateKey(testKeypair(index).seed), publicKey: testKeypair(index).publicKey }
    signers.set(index, known)
  }
  return known
}
const token = (index: number, nowMs = NOW) => mintCallerToken(signer(index), SERVER, nowMs)

/**
 * A token "signed" by the identity point, the smallest of the small-order keys: with A = R = identity
 * and S = 0 the cofactorless equation [S]B = R + [k]A holds for every message, so OpenSSL accepts it
 * without anyone holding a private key.
 */
const smallOrderToken = (nowMs: number): Buffer => {
  const identity = Buffer.alloc(32)
  identity[0] = 1
  const bytes = Buffer.alloc(TOKEN_BYTES)
  bytes.writeUInt8(1, 0)
  bytes.set(identity, 1)
  bytes.write(SERVER, 33, "hex")
  bytes.writeBigUInt64BE(BigInt(nowMs), 65)
  bytes.set(identity, TOKEN_BYTES - 64) // R = identity, S = 0
  return bytes
}

describe("CallerTokenVerifier: keys", () => {
  it("refuses a token from a small-order key (which OpenSSL alone would accept) before verifying it", () => {
    const forged = smallOrderToken(NOW)
    // The premise: OpenSSL verifies it (so only the strict pre-check stands in the way).
    const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), forged.subarray(1, 33)])
    const opensslSays = verify(
      null,
      intentMessage(IntentScope.PeerAuthentication, forged.subarray(0, TOKEN_BYTES - 64)),
      createPublicKey({ key: spki, format: "der", type: "spki" }),
      forged.subarray(TOKEN_BYTES - 64)
    )
    expect(opensslSays).toBe(true)

    const verifier = new CallerTokenVerifier(SERVER)
    const verdict = verifier.verify(forged, "10.0.0.1:1", NOW)
    expect(verdict).toEqual(Either.left({ code: "UNAUTHENTICATED", reason: expect.stringContaining("small order") }))
    expect(verifier.size).toBe(0)
    expect(Either.getOrThrow(verifier.verify(token(1), "10.0.0.1:1", NOW))).toBe(testPeerId(1))
  })
})

describe("CallerTokenVerifier: budgets", () => {
  it("one connection gets MAX_LIVE_TOKENS_PER_CONNECTION tokens; 10,000 more are RESOURCE_EXHAUSTED and lock nobody else out", () => {
    const verifier = new CallerTokenVerifier(SERVER)
    const attacker = signer(7)
    const verdicts = Array.from({ length: 10_000 }, (_, i) => verifier.verify(mintCallerToken(attacker, SERVER, NOW + i % 1000), "10.0.0.66:4000", NOW))
    const accepted = verdicts.filter(Either.isRight).length
    expect(accepted).toBe(MAX_LIVE_TOKENS_PER_CONNECTION)
    expect(verdicts[MAX_LIVE_TOKENS_PER_CONNECTION]).toEqual(Either.left({ code: "RESOURCE_EXHAUSTED", reason: expect.stringContaining("connection") }))
    expect(verifier.size).toBe(MAX_LIVE_TOKENS_PER_CONNECTION)
    // An honest caller elsewhere, and the attacker's own tokens on its connection, still work.
    expect(Either.getOrThrow(verifier.verify(token(1), "10.0.0.1:1", NOW))).toBe(testPeerId(1))
    const first = verdicts.findIndex(Either.isRight)
    expect(first).toBe(0)
  })

  it("a connection's budget comes back when its tokens expire", () => {
    const verifier = new CallerTokenVerifier(SERVER)
    for (let i = 0; i < MAX_LIVE_TOKENS_PER_CONNECTION; i++) expect(Either.isRight(verifier.verify(token(2, NOW), "10.0.0.2:1", NOW))).toBe(true)
    expect(Either.isLeft(verifier.verify(token(2, NOW), "10.0.0.2:1", NOW))).toBe(true)
    const later = NOW + TOKEN_MAX_AGE_MS + 1_000
    expect(Either.isRight(verifier.verify(token(2, later), "10.0.0.2:1", later))).toBe(true)
    expect(verifier.size).toBe(1)
  })

  it("reconnecting does not reset the budget: one address gets MAX_LIVE_TOKENS_PER_ADDRESS in all", () => {
    const verifier = new CallerTokenVerifier(SERVER)
    let accepted = 0
    const ports = MAX_LIVE_TOKENS_PER_ADDRESS / MAX_LIVE_TOKENS_PER_CONNECTION + 8
    for (let port = 1; port <= ports; port++) {
      for (let i = 0; i < MAX_LIVE_TOKENS_PER_CONNECTION; i++) {
        // Many keys, so that the per-caller budget is not what stops it.
        if (Either.isRight(verifier.verify(token(100 + ((port * 8 + i) % 64)), `10.0.0.3:${port}`, NOW))) accepted += 1
      }
    }
    expect(accepted).toBe(MAX_LIVE_TOKENS_PER_ADDRESS)
    expect(verifier.verify(token(5), "10.0.0.3:9999", NOW)).toEqual(Either.left({ code: "RESOURCE_EXHAUSTED", reason: expect.stringContaining("10.0.0.3") }))
    expect(Either.isRight(verifier.verify(token(5), "10.0.0.4:1", NOW))).toBe(true)
  })

  it("one key gets MAX_LIVE_TOKENS_PER_CALLER, counted only once its signature verified", () => {
    const verifier = new CallerTokenVerifier(SERVER)
    // Someone else's forgeries in key 9's name do not spend key 9's budget.
    const forged = mintCallerToken({ privateKey: signer(8).privateKey, publicKey: signer(9).publicKey }, SERVER, NOW)
    for (let i = 0; i < 100; i++) expect(Either.isLeft(verifier.verify(forged, `10.1.${i}.1:1`, NOW))).toBe(true)
    let accepted = 0
    for (let i = 0; i < 2 * MAX_LIVE_TOKENS_PER_CALLER; i++) {
      if (Either.isRight(verifier.verify(token(9), `10.2.${i}.1:1`, NOW))) accepted += 1
    }
    expect(accepted).toBe(MAX_LIVE_TOKENS_PER_CALLER)
    expect(verifier.verify(token(9), "10.3.0.1:1", NOW)).toEqual(Either.left({ code: "RESOURCE_EXHAUSTED", reason: expect.stringContaining("caller") }))
    expect(peerIdFromPublicKey(signer(9).publicKey)).toBe(testPeerId(9))
  })

  it.effect("a remembered token keeps working on its own connection after the budget is spent", () =>
    Effect.sync(() => {
      const verifier = new CallerTokenVerifier(SERVER)
      const mine = token(4)
      expect(Either.isRight(verifier.verify(mine, "10.0.0.5:1", NOW))).toBe(true)
      for (let i = 0; i < 50; i++) verifier.verify(token(4), "10.0.0.5:1", NOW)
      expect(Either.getOrThrow(verifier.verify(mine, "10.0.0.5:1", NOW))).toBe(testPeerId(4))
      expect(verifier.verify(mine, "10.0.0.6:1", NOW)).toEqual(Either.left({ code: "UNAUTHENTICATED", reason: expect.stringContaining("replayed") }))
    })
  )
})
