/**
 * Generated chains kept on disk, keyed by their config: a chain is a pure function of its config (the
 * seed included), and a 100-validator chain costs ≈ 0.4 ms of BLS signing per transaction to make, so
 * benchmarks and tests generate each chain once per machine and then only read it back.
 *
 * A file holds the first N commits of a config's chain; asking for more regenerates from genesis (the
 * generator's randomness is sequential) and replaces the file. Files are written to a temporary name and
 * renamed when complete, so a reader never sees half a chain and concurrent writers do not clash.
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeSignedBlock, markVerifiedBlock, blockRefOf, type VerifiedBlock } from "../domain/block.js"
import { toHex } from "../domain/bytes.js"
import { committedSubDag, decodeCommit, markVerifiedCommit } from "../domain/commit.js"
import { blake2b256 } from "../domain/hash.js"
import { ChainGenerator, type ChainConfig, type GeneratedCommit } from "./chain.js"

/** Bump when the generator's output or this file format changes: old files are then ignored. */
const FORMAT_VERSION = 2

/** Where chains are cached: `$SOMA_CHAIN_CACHE`, or a folder in the system temp directory. */
export const chainCacheDir = (): string => process.env["SOMA_CHAIN_CACHE"] ?? join(tmpdir(), "soma-p2p-chain-cache")

/** The cache key of a config: every field that changes the chain (addresses expanded, functions are not hashable). */
const keyOf = (config: ChainConfig): string => {
  const { validatorAddress, ...plain } = config
  const addresses = validatorAddress === undefined ? null : Array.from({ length: config.validators }, (_, i) => validatorAddress(i))
  const canonical = JSON.stringify({ v: FORMAT_VERSION, ...plain, addresses }, Object.keys({ v: 0, ...plain, addresses }).sort())
  return toHex(blake2b256(new TextEncoder().encode(canonical))).slice(0, 32)
}

const u32 = (value: number): Uint8Array => {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, value, true)
  return out
}

/** One commit as bytes: u32 length-prefixed commit, blocks and certifier blocks, then the last-of-epoch flag. */
const encodeRecord = (c: GeneratedCommit): Array<Uint8Array> => {
  const parts: Array<Uint8Array> = [u32(c.subDag.commit.bytes.length), c.subDag.commit.bytes, u32(c.subDag.blocks.length)]
  for (const b of c.subDag.blocks) parts.push(u32(b.bytes.length), b.bytes)
  parts.push(u32(c.certifierBlocks.length))
  for (const b of c.certifierBlocks) parts.push(u32(b.bytes.length), b.bytes)
  parts.push(Uint8Array.of(c.lastOfEpoch ? 1 : 0))
  const total = parts.reduce((n, p) => n + p.length, 0)
  return [u32(total), ...parts]
}

/** Our own file, written by `encodeRecord`: a malformed one is a bug or a corrupted disk, hence the throws. */
const decodeRecord = (generator: ChainGenerator, bytes: Uint8Array): GeneratedCommit => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  const take = (): Uint8Array => {
    const length = view.getUint32(at, true)
    const out = bytes.subarray(at + 4, at + 4 + length)
    at += 4 + length
    return out
  }
  const blocks = (): Array<VerifiedBlock> => {
    const count = view.getUint32(at, true)
    at += 4
    return Array.from({ length: count }, () => {
      const blockBytes = take().slice()
      const decoded = decodeSignedBlock(blockBytes)
      if (decoded._tag === "Left") throw new Error(`chain cache: undecodable block (${decoded.left.message})`)
      return markVerifiedBlock(decoded.right, blockBytes, blockRefOf(decoded.right.block, blockBytes))
    })
  }
  const commitBytes = take().slice()
  const commit = decodeCommit(commitBytes)
  if (commit._tag === "Left") throw new Error(`chain cache: undecodable commit (${commit.left.message})`)
  const subDagBlocks = blocks()
  const certifierBlocks = blocks()
  const lastOfEpoch = bytes[at] === 1
  return {
    subDag: committedSubDag(markVerifiedCommit(commit.right, commitBytes), subDagBlocks),
    certifierBlocks,
    committee: generator.committee(commit.right.epoch),
    lastOfEpoch
  }
}

function* readChain(generator: ChainGenerator, path: string, count: number): Generator<GeneratedCommit> {
  const fd = openSync(path, "r")
  try {
    const header = new Uint8Array(4)
    readSync(fd, header, 0, 4, null)
    for (let i = 0; i < count; i++) {
      readSync(fd, header, 0, 4, null)
      const length = new DataView(header.buffer).getUint32(0, true)
      const record = new Uint8Array(length)
      if (readSync(fd, record, 0, length, null) !== length) throw new Error(`chain cache: ${path} is truncated`)
      yield decodeRecord(generator, record)
    }
  } finally {
    closeSync(fd)
  }
}

const storedCount = (path: string): number => {
  if (!existsSync(path)) return 0
  const fd = openSync(path, "r")
  try {
    const header = new Uint8Array(4)
    return readSync(fd, header, 0, 4, 0) === 4 ? new DataView(header.buffer).getUint32(0, true) : 0
  } finally {
    closeSync(fd)
  }
}

function* generateChain(generator: ChainGenerator, dir: string, path: string, count: number): Generator<GeneratedCommit> {
  mkdirSync(dir, { recursive: true })
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`
  const fd = openSync(temporary, "w")
  let complete = false
  try {
    writeSync(fd, u32(count))
    let produced = 0
    for (const commit of generator.commits()) {
      for (const part of encodeRecord(commit)) writeSync(fd, part)
      produced++
      yield commit
      if (produced === count) break
    }
    complete = true
  } finally {
    closeSync(fd)
    if (complete) renameSync(temporary, path)
    else rmSync(temporary, { force: true })
  }
}

/**
 * The first `count` commits of the config's chain, streamed (read from the cache when it holds at least
 * `count`, generated and cached otherwise). Break out of the loop early and nothing is cached.
 */
export const cachedCommits = (config: ChainConfig, count: number): Iterable<GeneratedCommit> => {
  const generator = new ChainGenerator(config)
  const dir = chainCacheDir()
  const path = join(dir, `${keyOf(config)}.chain`)
  return storedCount(path) >= count ? readChain(generator, path, count) : generateChain(generator, dir, path, count)
}

/** The first `count` commits, materialised (tests). */
export const cachedChain = (config: ChainConfig, count: number): Array<GeneratedCommit> => [...cachedCommits(config, count)]
