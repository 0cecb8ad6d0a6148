-- GET the paths listed one per line in the file named by the first script argument, in turn
-- (each thread starting at its own place), so that a run spreads over many listings or words.
local paths = {}
local index = 0

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  index = math.random(#paths)
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end
