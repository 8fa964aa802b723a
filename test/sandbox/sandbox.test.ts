/**
 * The sandbox suite: every case as the user running the tests, and, when that is root, the
 * same cases again as the unprivileged user `stratumt` (rootless: subuid mapping, sub-id owned
 * trees only readable inside the namespace). Nothing is skipped: a missing capability fails
 * with the detect error, a missing `stratumt` user fails with how to create it.
 */
import { fileURLToPath } from 'node:url';
import { defineCases } from './sandbox-cases.js';
import { rerunAsTestUser } from '../util/unprivileged.js';

const me = process.getuid!() === 0 ? 'root' : `uid ${process.getuid!()}`;
defineCases(me).run();

rerunAsTestUser('sandbox rootless', 'sandbox', fileURLToPath(import.meta.url), 'STRATUM_SANDBOX_CHILD');
