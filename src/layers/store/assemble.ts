/** Rebuilding a `CommittedSubDag` from a stored commit and its stored blocks (shared by the Store layers). */
import { Either } from "effect"
import type { VerifiedBlock } from "../../domain/block.js"
import { committedSubDag, type CommittedSubDag, type VerifiedCommit } from "../../domain/commit.js"
import { StoreError } from "../../services/Store.js"

/**
 * The sub-DAG of `commit` from the blocks found for its listed refs (as `getBlocks` returns them: in
 * the listed order, missing ones left out). A missing block means the store is corrupt — every write
 * checks that a commit's blocks are there — so it is a `StoreError`, not an absent value.
 */
export const assembleSubDag = (commit: VerifiedCommit, blocks: ReadonlyArray<VerifiedBlock>): Either.Either<CommittedSubDag, StoreError> =>
  blocks.length === commit.commit.blocks.length
    ? Either.right(committedSubDag(commit, blocks))
    : Either.left(
        new StoreError({
          operation: "commitSubDag",
          detail: `commit ${commit.commit.index} lists ${commit.commit.blocks.length} blocks, ${blocks.length} are stored`
        })
      )
