// Follows noa-server's live tail with a real websocket client from npm (ws),
// the way Grafana and logcli follow Loki: connects to /loki/api/v1/tail,
// then pushes lines over HTTP and waits for them to come back on the socket.
// Used by tests/integration/test_npm_tail.py, which checks what this prints.
//
// usage: node tail.js --url http://127.0.0.1:3100 --marker M --n N
// Prints one JSON document on stdout: the lines received (in order), the
// stream labels seen, the milliseconds from each push to its line arriving
// (max), whether a ping was answered, and the close code after the client
// closed; exits 0, or prints the error and exits 1 (2 on bad usage).
'use strict'

const WebSocket = require('ws')

function parseArgs (argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) continue
    out[a.slice(2)] = argv[++i]
  }
  return out
}

async function push (url, marker, i) {
  const ts = (BigInt(Date.now()) * 1000000n + BigInt(i)).toString()
  const body = {
    streams: [{ stream: { app: 'noa-npm-tail', marker }, values: [[ts, `tail line ${i} level=error`]] },
      { stream: { app: 'noa-npm-tail', marker }, values: [[ts, `filtered out ${i}`]] }]
  }
  const r = await fetch(url + '/loki/api/v1/push', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
  })
  if (r.status !== 204) throw new Error(`push answered ${r.status}: ${await r.text()}`)
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  if (!args.url || !args.marker) {
    console.error('usage: node tail.js --url URL --marker M [--n N]')
    return 2
  }
  const n = Number(args.n || 20)
  const query = `{app="noa-npm-tail", marker="${args.marker}"} |= "tail line"`
  const wsUrl = args.url.replace(/^http/, 'ws') + '/loki/api/v1/tail?query=' +
    encodeURIComponent(query) + '&limit=10'
  const ws = new WebSocket(wsUrl)
  const lines = []
  const labels = new Set()
  const pushedAt = new Map()
  let maxLatency = 0
  let pong = false
  ws.on('pong', () => { pong = true })
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString())
    for (const s of msg.streams || []) {
      labels.add(JSON.stringify(s.stream))
      for (const [, line] of s.values) {
        lines.push(line)
        const at = pushedAt.get(line)
        if (at !== undefined) maxLatency = Math.max(maxLatency, Date.now() - at)
      }
    }
  })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  ws.ping()
  for (let i = 0; i < n; i++) {
    pushedAt.set(`tail line ${i} level=error`, Date.now())
    await push(args.url, args.marker, i)
  }
  const deadline = Date.now() + 5000
  while (lines.length < n && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  const closeCode = await new Promise((resolve) => {
    ws.once('close', (code) => resolve(code))
    ws.close(1000, 'done')
  })
  process.stdout.write(JSON.stringify({ lines, labels: [...labels], maxLatencyMs: maxLatency, pong, closeCode }) + '\n')
  return 0
}

main().then((code) => process.exit(code), (err) => {
  console.error(String(err && err.stack ? err.stack : err))
  process.exit(1)
})
