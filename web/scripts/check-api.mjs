// Fails when src/api/schema.d.ts is not what openapi-typescript makes of src/api/openapi.json,
// so the console's types cannot drift from the server's OpenAPI document.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'steward-api-'))
const fresh = join(dir, 'schema.d.ts')
try {
  execFileSync('node_modules/.bin/openapi-typescript', ['src/api/openapi.json', '-o', fresh], { stdio: ['ignore', 'ignore', 'inherit'] })
  const committed = readFileSync('src/api/schema.d.ts', 'utf8')
  if (readFileSync(fresh, 'utf8') !== committed) {
    console.error('src/api/schema.d.ts is stale: run `npm run gen:api` and commit the result')
    process.exit(1)
  }
  console.log('src/api/schema.d.ts matches src/api/openapi.json')
} finally {
  rmSync(dir, { recursive: true, force: true })
}
