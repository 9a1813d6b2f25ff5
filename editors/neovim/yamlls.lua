-- nvim-lspconfig: yaml-language-server with the qmspec schema for specs/*.yaml.
-- Put this in your config (or .nvim.lua at the repository root with 'exrc' enabled).
require("lspconfig").yamlls.setup({
  settings = {
    yaml = {
      schemaStore = { enable = false },
      schemas = {
        ["./schema/worker.schema.json"] = { "specs/*.yaml", "specs/*.yml" },
      },
    },
  },
})
