/**
 * Independent checks of generated data, written from DESIGN.md §3/§6/§7 rather than from the generator,
 * so the generator's tests can tell valid output from each deliberate fault. Every signature goes
 * through the real `Crypto` service in one `verifyMany` batch.
 */
import { Effect, Either } from "effect"
import { blockRefOf, blockSigningMessage, epochChangeSigningMessage, type VerifiedBlock } from "../../../src/domain/block.js"
import { bytesEqual } from "../../../src/domain/bytes.js"
import { committeeDigest, reachesQuorum, authorityAt, type Committee } from "../../../src/domain/committee.js"
import { genesisBlockRefs } from "../../../src/domain/genesis.js"
import { blake2b256 } from "../../../src/domain/hash.js"
import {
  certificateSigningMessage,
  decodeCertifiedTransaction,
  senderSigningMessage,
  transactionDigest
} from "../../../src/domain/transaction.js"
import { Crypto, type VerifyItem } from "../../../src/services/Crypto.js"

/** Problems found in one block, by name (empty = valid). */
export const blockProblems = (block: VerifiedBlock, committee: Committee) =>
  Effect.gen(function* () {
    const crypto = yield* Crypto
    const problems: Array<string> = []
    const b = block.signed.block
    const author = authorityAt(committee, b.author)
    if (b.epoch !== committee.epoch) problems.push("WrongEpoch")
    if (author === undefined) return [...problems, "UnknownAuthor"]
    if (b.round === 0) problems.push("GenesisRound")
    if (!bytesEqual(blockRefOf(b, block.bytes).digest, block.ref.digest)) problems.push("DigestMismatch")
    const first = b.ancestors[0]
    if (first === undefined || first.author !== b.author) problems.push("OwnParentNotFirst")
    const authors = b.ancestors.map((a) => a.author)
    if (new Set(authors).size !== authors.length) problems.push("DuplicateAncestorAuthor")
    if (b.ancestors.some((a) => a.round >= b.round)) problems.push("AncestorRoundTooHigh")
    const parents = b.ancestors.filter((a) => a.round === b.round - 1).map((a) => a.author)
    if (!reachesQuorum(committee, parents)) problems.push("ParentsBelowQuorum")
    const genesis = genesisBlockRefs(committee)
    for (const a of b.ancestors) {
      if (a.round === 0 && !bytesEqual((genesis[a.author]?.digest ?? new Uint8Array()) as Uint8Array, a.digest)) problems.push("FakeGenesisAncestor")
    }

    const items: Array<VerifyItem & { what: string }> = [
      { what: "BlockSignature", publicKey: author.protocolKey, message: blockSigningMessage(b), signature: block.signed.signature }
    ]
    for (const bytes of b.transactions) {
      const decoded = decodeCertifiedTransaction(bytes)
      if (Either.isLeft(decoded)) {
        problems.push("UndecodableTransaction")
        continue
      }
      const tx = decoded.right
      const digest = transactionDigest(tx.signed.data)
      items.push({ what: "SenderSignature", publicKey: tx.signed.data.sender, message: senderSigningMessage(digest), signature: tx.signed.senderSignature })
      if (tx.epoch !== committee.epoch) problems.push("CertificateWrongEpoch")
      const signers = tx.signatures.map((s) => s.authority)
      if (new Set(signers).size !== signers.length) problems.push("DuplicateSigner")
      if (signers.some((s) => authorityAt(committee, s) === undefined)) problems.push("UnknownSigner")
      if (!reachesQuorum(committee, signers)) problems.push("CertificateBelowQuorum")
      for (const s of tx.signatures) {
        const signer = authorityAt(committee, s.authority)
        if (signer !== undefined)
          items.push({ what: "AuthoritySignature", publicKey: signer.authorityKey, message: certificateSigningMessage(digest, tx.epoch), signature: s.signature })
      }
    }
    if (b.endOfEpoch !== null) {
      const message = epochChangeSigningMessage(committeeDigest(b.endOfEpoch.nextCommittee))
      const signers = b.endOfEpoch.signatures.map((s) => s.authority)
      if (!reachesQuorum(committee, signers) || new Set(signers).size !== signers.length) problems.push("EpochChangeBelowQuorum")
      if (b.endOfEpoch.nextCommittee.epoch !== committee.epoch + 1) problems.push("EpochChangeWrongEpoch")
      for (const s of b.endOfEpoch.signatures) {
        const signer = authorityAt(committee, s.authority)
        if (signer !== undefined) items.push({ what: "EpochChangeSignature", publicKey: signer.authorityKey, message, signature: s.signature })
      }
    }
    const verdicts = yield* crypto.verifyMany(items)
    items.forEach((item, i) => {
      if (verdicts[i] !== true) problems.push(item.what)
    })
    return [...new Set(problems)]
  })

/** Digest of commit bytes, for hash-chain checks. */
export const commitDigestOf = (bytes: Uint8Array): Uint8Array => blake2b256(bytes)
