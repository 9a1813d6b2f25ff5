-- qmspec specs in Neovim: yaml-language-server checks specs/*.yaml against the qmspec schema
-- (completion, hover, validation); SchemaStore stays on for every other YAML file.
-- Where: your config (e.g. ~/.config/nvim/plugin/qmspec.lua, or paste it into init.lua), or
-- .nvim.lua at the repository root with 'exrc' set (Neovim asks once before trusting it).
-- "./" is the root of the project the file is in (the folder holding .git or specs/).
-- Needs yaml-language-server on PATH (`npm install -g yaml-language-server`).
-- Neovim 0.11+ uses vim.lsp.config/vim.lsp.enable (with nvim-lspconfig's defaults for yamlls
-- when it is installed); older Neovim needs nvim-lspconfig and uses its setup{}.
local settings = {
  yaml = {
    schemas = {
      ["./schema/worker.schema.json"] = { "specs/*.yaml", "specs/*.yml" },
    },
  },
}

if vim.lsp.config then
  local config = { settings = settings }
  if #vim.api.nvim_get_runtime_file("lsp/yamlls.lua", false) == 0 then
    -- No nvim-lspconfig: how to start the server, and where the project's root is.
    config.cmd = { "yaml-language-server", "--stdio" }
    config.filetypes = { "yaml" }
    config.root_markers = { ".git", "specs" }
  end
  vim.lsp.config("yamlls", config)
  vim.lsp.enable("yamlls")
else
  local ok, lspconfig = pcall(require, "lspconfig")
  if ok then
    lspconfig.yamlls.setup({ settings = settings })
  else
    vim.notify("qmspec: Neovim before 0.11 needs nvim-lspconfig for yamlls", vim.log.levels.WARN)
  end
end
