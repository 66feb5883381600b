#!/usr/bin/env node
/**
 * The `swnet` command. Each sub-command lives in its own module under src/cli/ and
 * registers itself on the program here.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { register as registerPcap } from './pcap.js';
import { register as registerApply } from './apply.js';
import { register as registerImport } from './import.js';
import { register as registerUser } from './user.js';
import { register as registerSim } from './sim.js';
import { register as registerReplay } from './replay.js';
import { register as registerController } from './controller.js';
import { register as registerTop } from './top.js';
import { register as registerWatch } from './watch.js';
import { register as registerRun } from './run.js';
import { register as registerTwin } from './twin.js';
import { register as registerAgent } from './agent.js';
import { register as registerUp, runMain } from './up.js';
import { register as registerRadio } from './radio.js';
import { register as registerMigrate } from './migrate.js';
import { register as registerScale } from './scale.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('swnet')
    .description('software networks: network functions on shared servers, isolated, placed and migrated')
    .version(pkg.version)
    .showHelpAfterError();
  program
    .command('start')
    .description('the main job (what `npm start` runs)')
    .action(async () => {
      await runMain();
    });
  registerPcap(program);
  registerApply(program);
  registerImport(program);
  registerUser(program);
  registerSim(program);
  registerReplay(program);
  registerController(program);
  registerTop(program);
  registerWatch(program);
  registerRun(program);
  registerTwin(program);
  registerAgent(program);
  registerUp(program);
  registerRadio(program);
  registerMigrate(program);
  registerScale(program);
  return program;
}

const program = buildProgram();
await program.parseAsync(process.argv);
