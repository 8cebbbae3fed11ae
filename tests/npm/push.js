// Pushes log lines to a Loki-compatible server through a real Loki client
// from npm: winston with the winston-loki transport. Used by
// tests/integration/test_npm_client.py against noa-server.
//
// usage: node push.js --url http://127.0.0.1:3100 --marker M --count N
//                     [--mode protobuf|json] [--tenant T]
// Logs N lines "<marker> line <i> ..." with labels
// {app="noa-npm-test", marker="<marker>", level="info"}, waits until every
// batch got its answer, and exits 0 when all pushes succeeded, 1 when any
// push failed (the error is printed), 2 on bad usage, 3 when protobuf mode
// was asked for but the snappy binding cannot load (winston-loki would
// silently fall back to JSON).
'use strict'

function parseArgs (argv) {
  const out = { mode: 'protobuf', count: '10' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) continue
    const eq = a.indexOf('=')
    if (eq > 0) {
      out[a.slice(2, eq)] = a.slice(eq + 1)
    } else {
      out[a.slice(2)] = argv[++i]
    }
  }
  return out
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const url = args.url || process.env.NOA_URL
  const marker = args.marker || process.env.NOA_MARKER
  const count = parseInt(args.count, 10)
  const mode = args.mode
  if (!url || !marker || !(count > 0) || (mode !== 'protobuf' && mode !== 'json')) {
    console.error('usage: node push.js --url URL --marker M --count N [--mode protobuf|json] [--tenant T]')
    return 2
  }
  if (mode === 'protobuf') {
    try {
      require('snappy').compressSync(Buffer.from('probe'))
    } catch (e) {
      console.error('snappy binding unavailable, winston-loki would send JSON: ' + e.message)
      return 3
    }
  }

  const winston = require('winston')
  const LokiTransport = require('winston-loki')
  const errors = []
  const headers = {}
  if (args.tenant) headers['X-Scope-OrgID'] = args.tenant
  const transport = new LokiTransport({
    host: url,
    labels: { app: 'noa-npm-test', marker },
    json: mode === 'json',
    batching: true,
    interval: 0.2, // seconds between batches
    headers,
    timeout: 10000,
    gracefulShutdown: false,
    clearOnError: true,
    // the line is exactly the message (no appended JSON of the metadata)
    format: winston.format.printf(info => info.message),
    onConnectionError: err => errors.push(err)
  })
  const logger = winston.createLogger({ level: 'info', transports: [transport] })

  for (let i = 0; i < count; i++) {
    logger.info(`${marker} line ${i} ünïcödé "quoted" \\ back\tslash`)
  }
  // winston hands records to the transport asynchronously; wait until the
  // transport has seen them all before the final flush
  await new Promise((resolve, reject) => {
    let seen = 0
    const deadline = setTimeout(() => reject(new Error(`transport saw ${seen} of ${count} records`)), 20000)
    transport.on('logged', () => {
      if (++seen === count) {
        clearTimeout(deadline)
        resolve()
      }
    })
  })
  await transport.flush()
  await transport.close()
  if (errors.length) {
    for (const e of errors) console.error(`push failed: ${e.message}`)
    return 1
  }
  console.log(`pushed ${count} lines (${mode}) with marker ${marker}`)
  return 0
}

main().then(code => process.exit(code), err => {
  console.error(err && err.stack ? err.stack : String(err))
  process.exit(1)
})
