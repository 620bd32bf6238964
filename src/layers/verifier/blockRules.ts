/**
 * Structural rules of a block (everything but signatures), as pure functions: epoch and author in the
 * committee, round > 0, and the ancestor rules of DESIGN.md §6.3. Signatures are collected separately
 * so that a whole batch is verified at once on the worker pool.
 */
import { Schema } from "effect"
import type { Block } from "../../domain/block.js"
import { bytesEqual } from "../../domain/bytes.js"
import { signersStake, signersViolation } from "../../domain/certificate.js"
import { Committee, authorityAt, quorumThreshold, reachesQuorum } from "../../domain/committee.js"
import type { BlockRef } from "../../domain/refs.js"
import type { BlockFault } from "../../services/Verifier.js"

/** A rule violation: which rule and a human-readable detail. */
export interface RuleViolation<F extends string> {
  readonly fault: F
  readonly detail: string
}

const violation = <F extends string>(fault: F, detail: string): RuleViolation<F> => ({ fault, detail })

/** The first structural rule the block breaks, or null. `genesis` are the epoch's genesis refs by author. */
export const blockStructureViolation = (
  committee: Committee,
  genesis: ReadonlyArray<BlockRef>,
  block: Block
): RuleViolation<BlockFault> | null => {
  if (block.epoch !== committee.epoch) return violation("WrongEpoch", `block of epoch ${block.epoch}, committee of epoch ${committee.epoch}`)
  if (authorityAt(committee, block.author) === undefined) return violation("UnknownAuthor", `author ${block.author} not in a committee of ${committee.authorities.length}`)
  if (block.round === 0) return violation("GenesisRound", "round 0 blocks are genesis blocks and are never fetched")
  const ancestors = block.ancestors
  if (ancestors.length === 0) return violation("NoAncestors", "a block must have ancestors")
  if (ancestors.length > committee.authorities.length)
    return violation("TooManyAncestors", `${ancestors.length} ancestors for ${committee.authorities.length} authorities`)
  const first = ancestors[0] as BlockRef
  if (first.author !== block.author) return violation("OwnParentNotFirst", `first ancestor is by ${first.author}, not the author ${block.author}`)
  const seen = new Set<number>()
  const parents: Array<number> = []
  for (const ancestor of ancestors) {
    if (seen.has(ancestor.author)) return violation("DuplicateAncestorAuthor", `author ${ancestor.author} appears twice`)
    seen.add(ancestor.author)
    if (ancestor.epoch !== block.epoch || authorityAt(committee, ancestor.author) === undefined || ancestor.round >= block.round)
      return violation("BadAncestor", `ancestor ${ancestor.round}/${ancestor.author} of epoch ${ancestor.epoch} under block ${block.round}/${block.author}`)
    if (ancestor.round === 0 && !bytesEqual((genesis[ancestor.author] as BlockRef).digest, ancestor.digest))
      return violation("FakeGenesisAncestor", `round-0 ancestor of author ${ancestor.author} is not its genesis block`)
    if (ancestor.round === block.round - 1) parents.push(ancestor.author)
  }
  if (!reachesQuorum(committee, parents)) return violation("ParentsBelowQuorum", `parents at round ${block.round - 1} lack quorum stake`)
  const eoe = block.endOfEpoch
  if (eoe !== null) {
    if (!Schema.is(Committee)(eoe.nextCommittee)) return violation("InvalidEndOfEpoch", "next committee is malformed (empty, zero stake or too large)")
    if (eoe.nextCommittee.epoch !== block.epoch + 1)
      return violation("InvalidEndOfEpoch", `next committee is for epoch ${eoe.nextCommittee.epoch}, expected ${block.epoch + 1}`)
    const shape = signersViolation(committee, eoe.signers)
    if (shape !== null) return violation("InvalidEndOfEpoch", `epoch-change signers: ${shape.detail}`)
    if (signersStake(committee, eoe.signers) < quorumThreshold(committee)) return violation("InvalidEndOfEpoch", "epoch-change signers lack quorum stake")
  }
  return null
}
