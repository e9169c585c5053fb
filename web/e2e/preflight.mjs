// Says what is missing before the browser tests or the benchmark start, instead of letting them
// fail on it one by one: the built console, the steward binary, Chromium, playwright-core.
import { missingPrerequisites } from './steward.mjs';

const missing = await missingPrerequisites();
if (missing.length > 0) {
  console.error('Cannot run the browser tests; missing:');
  for (const what of missing) console.error(`  - ${what}`);
  process.exit(1);
}
