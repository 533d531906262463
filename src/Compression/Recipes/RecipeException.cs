using Offload.Protocol;

namespace Offload.Compression.Recipes;

/// <summary>A recipe the user wrote cannot be used; the message is one line naming the file, the line and the fix.</summary>
public sealed class RecipeException : OffloadException
{
    public RecipeException(string message) : base(message) { }
}
