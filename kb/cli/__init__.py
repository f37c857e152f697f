"""The `kb` command: thin wrappers that parse options and call the library.

One module per command group (library, search, serve, assess, export, importing, recommend, content); the group here
resolves the settings once into the `CliContext` of `common.py` that every command receives.
"""
from __future__ import annotations

import click

from . import assess, content, export, importing, library, recommend, search, serve
from .common import CliContext, fail


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kb")
@click.pass_context
def main(ctx: click.Context) -> None:
    """清洁生产技术知识库：检索技术目录、审核案例与评价指标体系。

    运行状态保存在实例目录（默认 ./instance，环境变量 KB_HOME 可改）。
    """
    from ..config import ConfigError, load_settings

    if ctx.obj is None:         # tests and embedders may hand their own CliContext (CliRunner.invoke(obj=...))
        try:
            ctx.obj = CliContext(load_settings())    # a bad KB_* value is named before any command starts
        except ConfigError as exc:
            fail(str(exc))


for _command in (library.check, library.build, library.new, library.history, library.stats, search.search,
                 serve.serve, recommend.recommend, importing.import_command, assess.assess, export.export_command,
                 content.content):
    main.add_command(_command)
