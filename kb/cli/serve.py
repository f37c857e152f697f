"""`kb serve`: the site and the API behind a production WSGI server; web is imported only when it runs."""
from __future__ import annotations

import errno

import click

from .. import serving
from ..serving import SERVE_THREADS, ServeLimits
from .common import CliContext, fail, pass_cli


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=SERVE_THREADS, show_default=True, type=int,
              help="处理请求的线程数。等待索引批次的发布请求只占线程、不占 CPU；同时计算的请求（检索、页面）限 2 个（见 bench/RESULTS.md）。")
@click.option("--connection-limit", default=ServeLimits.connection_limit, show_default=True, type=click.IntRange(10),
              help="同时打开的连接数上限（含慢速、空闲连接）；超出后新连接排队。")
@click.option("--channel-timeout", default=ServeLimits.channel_timeout, show_default=True, type=click.IntRange(1),
              help="连接无数据往来多少秒后关闭。")
@click.option("--trusted-proxy", envvar="KB_TRUSTED_PROXY", default=None, metavar="地址",
              help="反向代理的地址（如 127.0.0.1）：只信任它发来的 X-Forwarded-Proto / X-Forwarded-For，"
                   "从而经 HTTPS 时会话 cookie 带 Secure、按真实客户端限流。也可用 KB_TRUSTED_PROXY。")
@click.option("--watch/--no-watch", default=True, show_default=True, help="监视内容目录，文件变化后自动重新索引。")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="工作进程数。大于 1 时用 gunicorn 预先 fork 多个进程（仅限 Linux 等支持 fork 的系统），每个进程各用"
                   " --threads 个线程，共用内存映射的索引；本节点仍只有一个索引写入器和一个内容监视器。")
@pass_cli
def serve(cli: CliContext, host: str, port: int, threads: int, connection_limit: int, channel_timeout: int,
          trusted_proxy: str | None, watch: bool, workers: int) -> None:
    """用生产级 WSGI 服务器（单进程 waitress，多进程 gunicorn）提供网站和 API；尚未构建时先构建。"""
    import logging

    from ..instance_secret import ensure_secret_key

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kb = cli.open_kb()
    kb.ensure_built(progress=True)      # also refills a new (or taken-over) database
    settings = kb.settings
    kb.close()
    ensure_secret_key(settings.home)
    from web import create_app

    limits = ServeLimits(threads=threads, connection_limit=connection_limit, channel_timeout=channel_timeout,
                         trusted_proxy=trusted_proxy)
    watch = watch and not settings.shared       # shared mode: the database notifies the nodes instead
    if watch:
        settings.editable_content.mkdir(parents=True, exist_ok=True)
        click.echo("正在监视内容目录：" + "、".join(str(f) for f in settings.content_dirs if f.is_dir()))
    click.echo(f"清洁生产技术知识库：http://{host}:{port}/  （Ctrl+C 退出）")
    try:
        # the app serves this command's settings (an embedder's CliContext too), not settings read again from KB_*
        serving.run(lambda config=None: create_app({"KB_SETTINGS": settings, **(config or {})}), settings, host, port,
                    limits, workers=workers, watch=watch)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"端口 {port} 已被占用：先停止占用它的程序，或换一个端口，如 kb serve --port {port + 1}")
        raise
