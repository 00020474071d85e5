"""Local tools for trying and testing the bridge: vendor sandbox, throwaway broker, samples."""
