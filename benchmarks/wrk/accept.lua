-- POST /api/v1/offers/{offer}/accept once per enterprise: each line of the file named by the
-- first argument is "<access token> <offer id>"; thread n of N takes lines n, n+N, n+2N...
-- A thread stops once every acceptance it sent has its answer (wrk.thread:stop), so that no
-- request is cut off by the end of the run and the counts can be checked exactly; until then a
-- thread without lines left asks /healthz. The third argument prefixes the idempotency keys. A
-- thread that stops leaves a file named by its number in the directory of the fourth argument:
-- wrk itself runs for its whole duration, so whoever started it interrupts it once every thread
-- has left its file.
local lines = {}
local next_line = 0
local stride = 1
local key_prefix = ""
local answered_dir = nil
local threads = {}
local counter = 0
local sent, answered = 0, 0
-- wrk calls request() once on the first thread before the run, to check the request it builds
-- (its pipelining count), and never sends that one: that call must not use up a line, or its
-- enterprise never accepts and the thread waits for an answer that cannot come.
local checked = false

-- Globals, not locals: done() reads them from each thread with thread:get().
created, replayed, other = 0, 0, 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    lines[#lines + 1] = line
  end
  stride = tonumber(args[2])
  key_prefix = args[3]
  answered_dir = args[4]
  next_line = id
end

function request()
  if next_line > #lines then
    return wrk.format("GET", "/healthz")
  end
  local token, offer = lines[next_line]:match("^(%S+) (%S+)$")
  local key = key_prefix .. "-" .. next_line
  if id == 1 and not checked then
    checked = true
  else
    next_line = next_line + stride
    sent = sent + 1
  end
  return wrk.format("POST", "/api/v1/offers/" .. offer .. "/accept", {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = key,
    ["Content-Length"] = "0",
  })
end

function response(status, headers, body)
  -- /healthz answers carry no Idempotency-Key echo; an acceptance answer is JSON with an id
  -- or a problem: count by status, and healthz by its body.
  if status == 200 and body and body:find('"status"') and not body:find('"license') then
    -- healthz
  elseif status == 201 then
    created = created + 1
    answered = answered + 1
  elseif status == 200 then
    replayed = replayed + 1
    answered = answered + 1
  else
    other = other + 1
    answered = answered + 1
  end
  if next_line > #lines and answered >= sent then
    if answered_dir then
      io.open(answered_dir .. "/" .. id, "w"):close()
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local c, r, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    r = r + thread:get("replayed")
    o = o + thread:get("other")
  end
  io.write(string.format("ACCEPT created=%d replayed=%d other=%d\n", c, r, o))
end
