-- Headless smoke test of the kiln plugin: setup{}, open a file with a problem, wait for kiln's
-- diagnostic, run :KilnRun (answered at once), quit. Works on Neovim 0.7 and current.
-- Run: KILN_LSP=target/debug/kiln-lsp nvim --headless -u NONE -i NONE -n -c 'luafile editors/nvim/test/smoke.lua'
local here = debug.getinfo(1, 'S').source:sub(2):match('(.*)/test/')
vim.opt.runtimepath:append(here)
local function done(code, msg)
  io.stdout:write(msg .. '\n')
  io.stdout:flush()
  vim.cmd(code == 0 and 'qall!' or ('cquit ' .. code))
end
local ok, err = pcall(function()
  local kiln = require('kiln')
  kiln.setup({ cmd = { os.getenv('KILN_LSP') or 'kiln-lsp' } })
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  vim.fn.writefile({ 'import os', '', '', 'def f():', '    """Doc."""', '    return 1' }, dir .. '/bad.py')
  vim.fn.writefile({}, dir .. '/kiln.toml')
  vim.cmd('edit ' .. dir .. '/bad.py')
  vim.cmd('setfiletype python')
  local got = vim.wait(20000, function()
    for _, d in ipairs(vim.diagnostic.get(0)) do
      if d.code == 'PY109' then return true end
    end
    return false
  end, 50)
  if not got then return done(1, 'FAIL: no PY109 diagnostic from kiln-lsp') end
  for _, name in ipairs({ 'KilnGenerate', 'KilnImprove', 'KilnTests', 'KilnRun', 'KilnShowRun', 'KilnCancel' }) do
    if vim.fn.exists(':' .. name) ~= 2 then return done(1, 'FAIL: missing :' .. name) end
  end
  local status = vim.wait(5000, function() return kiln.status ~= nil end, 50)
  if not status then return done(1, 'FAIL: no kiln/status notification') end
  done(0, 'PASS nvim plugin (' .. tostring(vim.version().minor) .. '): diagnostics, commands, status ' .. kiln.status.health)
end)
if not ok then done(1, 'FAIL: ' .. tostring(err)) end
