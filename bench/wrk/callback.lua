-- wrk script for bench.ingest: POSTs one ACS PlayAudioResult callback (a JSON array holding one
-- CloudEvent, ~600 bytes) per request to /callbacks/acs?secret=..., spread over real sequences.
--
--   wrk -t2 -c50 -d10s --latency -s callback.lua URL -- <contexts file> <mode> <secret> <threads>
--
-- <contexts file>: one "<callConnectionId> <sequenceId>" per line. Thread t of n uses lines t, t+n, ...
-- mode "first": request i of a thread reports operation floor(i / K) of its sequence i mod K (K = its
--   sequences), so each request is the first delivery of a completion that follows the previous one,
--   sent K requests earlier (K >> connections per thread, so that one was answered long before).
-- mode "duplicate": always operation 0, already applied by a "first" pass: the dedupe path.
-- mode "bare": the same bodies, for the bare endpoint.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local mine = {}
local mode = "first"
local path = "/callbacks/acs"

function init(args)
  local file, chosen, secret, n = args[1], args[2], args[3], tonumber(args[4])
  mode = chosen or "first"
  path = "/callbacks/acs?secret=" .. (secret or "")
  local i = 0
  for line in io.lines(file) do
    if i % n == tid then
      local call, sid = line:match("^(%S+)%s+(%S+)$")
      table.insert(mine, {call, sid})
    end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "callcue-bench"
end

local template = '[{"id":"%08x-0000-4000-8000-%012d","source":"calling/callConnections/%s",' ..
  '"type":"Microsoft.Communication.PlayAudioResult","specversion":"1.0","time":"2026-11-24T10:00:00.000Z",' ..
  '"datacontenttype":"application/json","subject":"calling/callConnections/%s","data":{"resultInfo":' ..
  '{"code":200,"subcode":0,"message":"Action completed successfully."},"operationContext":"%s.%d",' ..
  '"status":"completed"}}]'

function request()
  local k = #mine
  local pick = mine[(counter % k) + 1]
  local op = 0
  if mode == "first" then
    op = math.floor(counter / k)
  end
  local body = string.format(template, tid, counter, pick[1], pick[1], pick[2], op)
  counter = counter + 1
  return wrk.format(nil, path, nil, body)
end
