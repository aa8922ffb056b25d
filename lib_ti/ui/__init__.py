"""Gradio builders for TI Lab's tabs. Thin: every callback calls a core function."""
