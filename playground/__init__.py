"""The token playground: a local page that shows several tokenizers side by side (qtok's, XLM-R,
any tokenizer file). It stands above the tokenizer and the study and uses both (``server.py``);
``qtok serve`` reaches it through the ``qtok.commands`` entry point (``cli.py``), so ``qtok`` never
imports it, and this package imports nothing heavy until the server starts.
"""
