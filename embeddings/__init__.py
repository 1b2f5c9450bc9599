"""Embedding models and the FAISS vector store."""
