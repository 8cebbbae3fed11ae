// Pushes and queries log lines through a real Loki query client from npm,
// @myunisoft/loki (a Node.js Grafana/Loki API SDK), against noa-server.
// Used by tests/integration/test_npm_query.py, which checks what this prints.
//
// usage: node query.js --url http://127.0.0.1:3100 --marker M
// Pushes 6 lines over two streams {app="noa-npm-query", marker=M, route=...}
// with the SDK's push (JSON), then asks the server back through the SDK:
// queryRangeStream (streams and their values), queryRange (lines newest
// first), queryRangeStream with a client-side pattern, labels, labelValues
// and series. Prints one JSON document with every answer on stdout and exits
// 0, or prints the error and exits 1 (2 on bad usage).
'use strict'

function parseArgs (argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) continue
    const eq = a.indexOf('=')
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1)
    else out[a.slice(2)] = argv[++i]
  }
  return out
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  if (!args.url || !args.marker) {
    console.error('usage: node query.js --url URL --marker M')
    return 2
  }
  const { GrafanaApi } = require('@myunisoft/loki')
  const api = new GrafanaApi({ remoteApiURL: args.url, userAgent: 'noa-npm-query-test' })
  const marker = args.marker
  const nowNs = BigInt(Date.now()) * 1000000n
  const ts = (secondsAgo, i) => String(nowNs - BigInt(secondsAgo) * 1000000000n + BigInt(i))
  const lines = {
    cart: ['GET /cart 200', 'GET /cart 304', 'POST /cart 201'],
    pay: ['POST /pay 500', 'POST /pay 200', 'GET /pay 405']
  }
  await api.Loki.push([
    { stream: { app: 'noa-npm-query', marker, route: 'cart' }, values: lines.cart.map((l, i) => [ts(30 - i, 0), l]) },
    { stream: { app: 'noa-npm-query', marker, route: 'pay' }, values: lines.pay.map((l, i) => [ts(20 - i, 0), l]) }
  ])

  const selector = `{app="noa-npm-query", marker="${marker}"}`
  const out = {}
  // Durations are turned into Unix seconds by the SDK (start=now-5m).
  out.streams = await api.Loki.queryRangeStream(selector, { start: '5m', limit: 100 })
  out.inline = await api.Loki.queryRange(`${selector} |= "POST"`, { start: '5m', limit: 100 })
  out.pattern = await api.Loki.queryRangeStream(`${selector} | route="pay"`, {
    start: '5m', limit: 100, pattern: '<verb> <path> <status>'
  })
  out.limited = await api.Loki.queryRangeStream(selector, { start: '5m', limit: 2 })
  out.labels = await api.Loki.labels({ start: '10m' })
  out.routes = await api.Loki.labelValues('route', { start: '10m', query: selector })
  out.series = await api.Loki.series({ app: 'noa-npm-query', marker })
  process.stdout.write(JSON.stringify(out) + '\n')
  return 0
}

main().then((code) => { process.exitCode = code }, (err) => {
  console.error('query.js failed: ' + (err && err.stack ? err.stack : err))
  if (err && err.data) console.error('server said: ' + JSON.stringify(err.data))
  process.exitCode = 1
})
