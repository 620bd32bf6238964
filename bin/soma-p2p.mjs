#!/usr/bin/env node
// The installed `soma-p2p` command: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from "tsx/esm/api"

register()
await import("../src/programs/cli.ts")
