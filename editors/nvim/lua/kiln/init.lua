-- kiln for Neovim: starts kiln-lsp for the configured filetypes and adds the :Kiln* commands.
-- Works on Neovim 0.7 (vim.lsp.start_client) and current releases; no plugin dependencies.
local M = {}

M.config = {
  cmd = { 'kiln-lsp' },
  filetypes = { 'python', 'rust', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact' },
  root_markers = { 'kiln.toml', '.git', 'pyproject.toml', 'Cargo.toml', 'package.json' },
  -- Sent as initializationOptions and answered to workspace/configuration (section "kiln").
  settings = {},
}

-- The last kiln/status notification: { health, busy, message, command }.
M.status = nil

local clients = {} -- root dir -> client id

local function find_root(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = vim.fn.fnamemodify(name, ':p:h')
  for _, marker in ipairs(M.config.root_markers) do
    local found = vim.fn.findfile(marker, dir .. ';')
    if found == '' then found = vim.fn.finddir(marker, dir .. ';') end
    if found ~= '' then return vim.fn.fnamemodify(found, ':p:h'):gsub('/%.git/?$', '') end
  end
  return dir
end

local function notify(msg, level)
  vim.schedule(function() vim.notify(msg, level or vim.log.levels.INFO) end)
end

local handlers = {
  ['kiln/status'] = function(_, result)
    M.status = result
    if result and result.health == 'error' then notify(result.message, vim.log.levels.ERROR) end
  end,
  ['$/progress'] = function(err, result, ctx, config)
    local v = result and result.value or {}
    if v.kind == 'begin' then notify('kiln: ' .. (v.title or '') .. ' ...')
    elseif v.kind == 'report' and v.message then notify('kiln: ' .. v.message)
    elseif v.kind == 'end' then notify('kiln: ' .. (v.message or 'done')) end
    local default = vim.lsp.handlers['$/progress']
    if default then return default(err, result, ctx, config) end
  end,
  ['workspace/configuration'] = function(_, result)
    local out = {}
    for i, item in ipairs(result and result.items or {}) do
      out[i] = (item.section == 'kiln' or item.section == nil) and M.config.settings or vim.NIL
    end
    return out
  end,
}

local function attach(bufnr)
  local root = find_root(bufnr)
  local config = {
    name = 'kiln',
    cmd = M.config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = M.config.settings,
    handlers = handlers,
  }
  if vim.lsp.start then
    -- 0.8+: starts one client per root and attaches the buffer.
    vim.lsp.start(config, { bufnr = bufnr })
    return
  end
  local id = clients[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client(config)
    if not id then
      notify('kiln: cannot start ' .. table.concat(M.config.cmd, ' '), vim.log.levels.ERROR)
      return
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

local function client_for(bufnr)
  local get = vim.lsp.get_clients and function() return vim.lsp.get_clients({ bufnr = bufnr }) end
    or function() return vim.lsp.buf_get_clients(bufnr) end
  for _, c in pairs(get()) do
    if c.name == 'kiln' then return c end
  end
  notify('kiln: not attached to this buffer', vim.log.levels.WARN)
end

-- Runs a kiln.* command for the function under the cursor.
function M.execute(command, extra)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then return end
  local args = vim.tbl_extend('force', {
    uri = vim.uri_from_bufnr(bufnr),
    line = vim.api.nvim_win_get_cursor(0)[1] - 1,
  }, extra or {})
  local request = function(...)
    if vim.fn.has('nvim-0.11') == 1 then return client:request(...) end
    return client.request(...)
  end
  request('workspace/executeCommand', { command = command, arguments = { args } }, function(err, result)
    if err then notify('kiln: ' .. (err.message or tostring(err)), vim.log.levels.ERROR) return end
    if command == 'kiln.showRun' and result and result.run then notify('kiln: run ' .. result.run) end
  end, bufnr)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', M.config, opts or {})
  local group = vim.api.nvim_create_augroup('kiln', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev) attach(ev.buf) end,
  })
  local cmd = vim.api.nvim_create_user_command
  cmd('KilnGenerate', function() M.execute('kiln.generate') end, { desc = 'kiln: generate the function under the cursor' })
  cmd('KilnImprove', function(o)
    M.execute('kiln.improve', { instruction = o.args ~= '' and o.args or nil })
  end, { nargs = '*', desc = 'kiln: improve the function under the cursor [instruction]' })
  cmd('KilnTests', function() M.execute('kiln.generateTests') end, { desc = 'kiln: generate tests for the function' })
  cmd('KilnRun', function() M.execute('kiln.runTests') end, { desc = "kiln: run the project's tests" })
  cmd('KilnShowRun', function() M.execute('kiln.showRun') end, { desc = 'kiln: show the last run' })
  cmd('KilnCancel', function() M.execute('kiln.cancel') end, { desc = 'kiln: cancel the running runs' })
  -- Buffers already open when setup runs.
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(M.config.filetypes, vim.bo[b].filetype) then attach(b) end
  end
end

return M
