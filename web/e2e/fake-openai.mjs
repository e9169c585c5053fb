// A scripted stand-in for an OpenAI-compatible chat-completions endpoint, speaking the real wire
// format (the Rust twin is llm/src/testing/fake_openai.rs). Steward's `openai` provider sends
// `POST {base}/chat/completions`, streamed (`stream: true`, SSE chunks, then `data: [DONE]`) when
// the console asks for a streamed reply, plain JSON otherwise. The test decides the answers with a
// responder: a function of the request that returns what the model "says".
import http from 'node:http';

/**
 * @typedef {{role: string, content?: string|null, tool_calls?: any[], tool_call_id?: string}} WireMessage
 * @typedef {{model: string, messages: WireMessage[], tools?: any[], stream?: boolean}} ChatCompletionRequest
 * @typedef {{text: string} | {toolCalls: {name: string, arguments: object|string}[]} | {error: number, message: string}} Answer
 * @typedef {(request: ChatCompletionRequest) => Answer} Responder
 */

/** The text of the last message with role `user`, or ''. @param {ChatCompletionRequest} request */
export function lastUserText(request) {
  const user = [...(request.messages ?? [])].reverse().find((m) => m.role === 'user');
  return typeof user?.content === 'string' ? user.content : '';
}

/** The names of the tools called by the assistant messages since the last user message. @param {ChatCompletionRequest} request */
export function toolsCalledThisTurn(request) {
  const messages = request.messages ?? [];
  let start = messages.length;
  while (start > 0 && messages[start - 1].role !== 'user') start -= 1;
  return messages
    .slice(start)
    .flatMap((m) => (m.role === 'assistant' ? m.tool_calls ?? [] : []))
    .map((call) => call.function?.name);
}

/**
 * Steward's planner as a well-behaved model would act: asked for a host check, it calls
 * `propose_job` for `host/host check` in cluster `local`; once the tool has answered, it says so in
 * a short reply; anything else gets a plain answer and no tool call.
 * @type {Responder}
 */
export function hostCheckPlanner(request) {
  const called = toolsCalledThisTurn(request);
  if (called.includes('propose_job')) {
    return { text: 'I proposed a health check of this host. It runs once you approve it.' };
  }
  if (/\bcheck\b/i.test(lastUserText(request)) && /\bhost\b/i.test(lastUserText(request))) {
    return {
      toolCalls: [
        {
          name: 'propose_job',
          arguments: {
            cluster: 'local',
            service: 'host',
            component: 'host',
            command: 'check',
            rationale: 'The operator asked for a health check of the local host.',
          },
        },
      ],
    };
  }
  return { text: 'I can check hosts; ask me for a host check.' };
}

const CREATED = 1_700_000_000;

/** A `chat.completion.chunk` with these choices (and usage). */
function chunk(model, choices, usage) {
  const c = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: CREATED, model, choices };
  if (usage) c.usage = usage;
  return c;
}

/** The SSE payloads of a streamed answer, as OpenAI sends them. @param {Answer} answer */
function streamChunks(answer, model) {
  const chunks = [chunk(model, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])];
  let finish = 'stop';
  if ('toolCalls' in answer) {
    finish = 'tool_calls';
    answer.toolCalls.forEach((call, index) => {
      const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
      // The id and name come in the first fragment only; the arguments arrive in pieces.
      const half = Math.floor(args.length / 2);
      chunks.push(
        chunk(model, [
          {
            index: 0,
            delta: {
              tool_calls: [
                { index, id: `call_${index}`, type: 'function', function: { name: call.name, arguments: args.slice(0, half) } },
              ],
            },
            finish_reason: null,
          },
        ]),
        chunk(model, [{ index: 0, delta: { tool_calls: [{ index, function: { arguments: args.slice(half) } }] }, finish_reason: null }]),
      );
    });
  } else {
    // A few words per chunk, so a streaming client has something to stream.
    for (const fragment of answer.text.match(/\S+\s*/g) ?? []) {
      chunks.push(chunk(model, [{ index: 0, delta: { content: fragment }, finish_reason: null }]));
    }
  }
  chunks.push(chunk(model, [{ index: 0, delta: {}, finish_reason: finish }]));
  chunks.push(chunk(model, [], { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }));
  return chunks;
}

/** The `chat.completion` object of an unstreamed answer. @param {Answer} answer */
function completion(answer, model) {
  const message =
    'toolCalls' in answer
      ? {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: answer.toolCalls.map((call, index) => ({
            id: `call_${index}`,
            type: 'function',
            function: {
              name: call.name,
              arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
            },
          })),
        }
      : { role: 'assistant', content: answer.text, refusal: null };
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: 'toolCalls' in answer ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
  };
}

/** OpenAI's error body. */
function errorBody(status, message) {
  const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: null } };
}

/**
 * Starts the fake endpoint on 127.0.0.1 at a free port.
 * @param {Responder} [responder] how the model answers (default: {@link hostCheckPlanner})
 */
export async function startFakeOpenAi(responder = hostCheckPlanner) {
  /** @type {{method: string, path: string, headers: object, body: any}[]} */
  const requests = [];
  let respond = responder;
  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (part) => parts.push(part));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = raw;
      }
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      requests.push({ method: req.method ?? '', path, headers: req.headers, body });
      const json = (status, value) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
        json(404, errorBody(404, `the fake OpenAI server does not serve ${req.method} ${path}`));
        return;
      }
      if (typeof body !== 'object' || body === null || !Array.isArray(body.messages)) {
        json(400, errorBody(400, "the request is not JSON with a 'messages' array"));
        return;
      }
      let answer;
      try {
        answer = respond(body);
      } catch (error) {
        answer = { error: 500, message: `the fake model's responder threw: ${error}` };
      }
      const model = typeof body.model === 'string' ? body.model : 'fake';
      if ('error' in answer) {
        json(answer.error, errorBody(answer.error, answer.message));
      } else if (body.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        for (const c of streamChunks(answer, model)) res.write(`data: ${JSON.stringify(c)}\n\n`);
        res.end('data: [DONE]\n\n');
      } else {
        json(200, completion(answer, model));
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    /** The base URL to configure: `http://127.0.0.1:PORT/v1`. */
    baseUrl: `http://127.0.0.1:${address.port}/v1`,
    /** Every request received so far, in order. */
    requests,
    /** The chat-completion requests received so far. */
    chatRequests: () => requests.filter((r) => r.path.endsWith('/chat/completions')),
    /** Replaces the responder. @param {Responder} next */
    respondWith(next) {
      respond = next;
    },
    /** Stops listening and drops open connections. */
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve(undefined));
      }),
  };
}
