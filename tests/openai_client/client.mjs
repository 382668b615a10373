// vkmoe serve through the official `openai` package: a chat, streamed and not, and a completion.
// Usage: node client.mjs BASE_URL API_KEY (exits non-zero on the first failed check).
import OpenAI from 'openai';

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, timeout: 120000, maxRetries: 0 });

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

const models = await client.models.list();
check(models.data.length === 1 && models.data[0].id === 'vkmoe-demo', 'models.list names the demo model');
const model = models.data[0].id;
const messages = [{ role: 'user', content: 'Hello' }];

const chat = await client.chat.completions.create({ model, messages, max_tokens: 6, seed: 3 });
check(chat.object === 'chat.completion' && typeof chat.choices[0].message.content === 'string', 'chat, not streamed');
check(chat.usage.completion_tokens > 0 && chat.usage.completion_tokens <= 6, 'chat usage');

let text = '';
let finish = null;
const stream = await client.chat.completions.create({ model, messages, max_tokens: 6, seed: 3, stream: true });
for await (const chunk of stream) {
  text += chunk.choices[0]?.delta?.content ?? '';
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
check(finish !== null, 'chat, streamed, ends with a finish reason');
check(text === chat.choices[0].message.content, 'streamed chat equals the same request not streamed (seed 3)');

const completion = await client.completions.create({ model, prompt: 'A mixture', max_tokens: 5, temperature: 0 });
check(completion.object === 'text_completion' && completion.choices[0].text.length > 0, 'completion');

let failed = false;
try {
  await client.completions.create({ model, prompt: 'x', temperature: 5 });
} catch (e) {
  failed = e.status === 400;
}
check(failed, 'an out-of-range temperature is an APIError with status 400');
