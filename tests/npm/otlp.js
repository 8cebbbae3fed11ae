// Emits OpenTelemetry log records through the real OTLP/HTTP log exporters
// of the OpenTelemetry JS SDK (protobuf: exporter-logs-otlp-proto; JSON:
// exporter-logs-otlp-http) to noa-server's /otlp/v1/logs, then flushes.
// tests/integration/test_otlp.py runs it and checks what arrived.
//
// Usage: node otlp.js --url http://127.0.0.1:PORT --mode proto|json
//                     --marker M --base-ns NS [--gzip]
// Exit 0 when every export succeeded, 1 when one failed, 2 on bad usage.
'use strict';

const api = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { Resource } = require('@opentelemetry/resources');
const { OTLPLogExporter: ProtoExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
const { OTLPLogExporter: JsonExporter } = require('@opentelemetry/exporter-logs-otlp-http');

function args() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--gzip') out.gzip = true;
    else if (a[i].startsWith('--')) out[a[i].slice(2)] = a[++i];
  }
  if (!out.url || !out.mode || !out.marker || !out['base-ns']) {
    console.error('usage: otlp.js --url URL --mode proto|json --marker M --base-ns NS [--gzip]');
    process.exit(2);
  }
  return out;
}

// [seconds, nanoseconds] for base + offset nanoseconds, exactly.
function hrtime(baseNs, offset) {
  const t = BigInt(baseNs) + BigInt(offset);
  return [Number(t / 1000000000n), Number(t % 1000000000n)];
}

async function main() {
  const o = args();
  const opts = { url: o.url + '/otlp/v1/logs' };
  if (o.gzip) opts.compression = 'gzip';
  const inner = o.mode === 'proto' ? new ProtoExporter(opts) : new JsonExporter(opts);
  let failed = 0;
  let exported = 0;
  // A pass-through exporter that remembers whether any export failed: the
  // processors only log failures.
  const exporter = {
    export(logs, done) {
      inner.export(logs, (res) => {
        if (res.code !== 0) {
          failed++;
          console.error('export failed:', res.error && res.error.message);
        } else {
          exported += logs.length;
        }
        done(res);
      });
    },
    shutdown() { return inner.shutdown(); },
    forceFlush() { return inner.forceFlush ? inner.forceFlush() : Promise.resolve(); },
  };

  const provider = new LoggerProvider({
    resource: new Resource({
      'service.name': 'noa-otlp-' + o.mode,
      'k8s.namespace.name': 'ns-' + o.marker,
      'custom.marker': o.marker,
      'custom.count': 3,
    }),
  });
  provider.addLogRecordProcessor(new SimpleLogRecordProcessor(exporter));
  const logger = provider.getLogger('noa.otlp.test', '1.2.3');

  const traced = api.trace.setSpanContext(api.context.active(), {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    traceFlags: api.TraceFlags.SAMPLED,
    isRemote: false,
  });
  const base = o['base-ns'];
  logger.emit({
    timestamp: hrtime(base, 1),
    observedTimestamp: hrtime(base, 1001),
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: o.marker + ' first ünïcödé "quoted"',
    attributes: { 'http.method': 'GET', 'http.status_code': 200, ratio: 0.5, ok: true,
                  ids: [1, 2, 3], user: { id: 'u1', 'tier.level': 2 } },
    context: traced,
  });
  logger.emit({
    timestamp: hrtime(base, 2),
    observedTimestamp: hrtime(base, 1002),
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: o.marker + ' second',
    attributes: { 'error.type': 'Timeout' },
  });
  logger.emit({
    timestamp: hrtime(base, 3),
    observedTimestamp: hrtime(base, 1003),
    severityNumber: SeverityNumber.WARN,
    body: { msg: o.marker + ' third', n: 7, html: '<b>&' },
  });
  await provider.forceFlush();
  await provider.shutdown();
  console.log(JSON.stringify({ exported, failed }));
  process.exit(failed || exported !== 3 ? 1 : 0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
